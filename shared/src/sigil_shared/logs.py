"""Logging set-up shared by every process: one line per record, text or JSON."""

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time, level, service, logger, message`` (+ ``exception``).

    Only the exception's type is written, never its text or traceback: an arbitrary
    exception's message may quote its input.
    """

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single JSON line."""
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level service logger: message``; an exception is named by its type only.

    A traceback carries the exception's text and the source lines around it, either of which
    may quote a value (e.g. a codec error quoting the character it could not encode).
    """

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's own method name
        """Only the exception's type."""
        kind = ei[0].__name__ if ei and ei[0] is not None else "exception"
        return f"({kind}; traceback withheld: it may quote input)"


def _format_from_env() -> LogFormat:
    raw = os.environ.get("SIGIL_LOG_FORMAT", "text").strip().lower()
    if raw not in ("text", "json"):
        print(  # noqa: T201 - the process cannot log before logging is set up
            f"sigil: invalid setting SIGIL_LOG_FORMAT: must be text or json, not {raw[:16]!r}",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return "json" if raw == "json" else "text"


def configure_logging(level: str, *, service: str, fmt: LogFormat | None = None) -> None:
    """Log to stderr, once, from ``main()``.

    ``fmt`` (``SIGIL_LOG_FORMAT``, read from the environment when not given): ``text`` is
    ``time level service logger: message``; ``json`` is one object per line for collectors.
    """
    chosen = fmt or _format_from_env()
    handler = logging.StreamHandler(sys.stderr)
    if chosen == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            TextFormatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # FastStream logs every message at INFO; that is noise, not signal, at scale.
    logging.getLogger(f"sigil.{service}.bus").setLevel(max(logging.WARNING, root.level))
