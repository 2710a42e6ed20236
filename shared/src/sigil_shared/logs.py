"""Logging set-up shared by every process: one line per record, level from settings."""

import logging
import sys


def configure_logging(level: str, *, service: str) -> None:
    """Log to stderr as ``time level service logger: message``. Call once in ``main()``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # FastStream logs every message at INFO; that is noise, not signal, at scale.
    logging.getLogger(f"sigil.{service}.bus").setLevel(max(logging.WARNING, root.level))
