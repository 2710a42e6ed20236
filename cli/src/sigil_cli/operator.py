"""Operator commands (``sigil keys``, ``sigil audit verify``): fail fast, in one line.

They talk to NATS as the secrets user. Before anything else they check that the data
dir (or ``SIGIL_NATS_URL``) is there and that a NATS server answers, so a stopped stack
is one clear line within seconds, not minutes of reconnect attempts and tracebacks.
"""

import argparse
import json
import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

from sigil_cli.exitcodes import CliError, ExitCode
from sigil_cli.output import out

#: Seconds to wait for a TCP connection to each NATS server.
PROBE_TIMEOUT = 3.0


def nats_url(data_dir: Path) -> str:
    """``SIGIL_NATS_URL``, else the URL the running ``sigil up`` wrote into the data dir."""
    from_env = os.environ.get("SIGIL_NATS_URL")
    if from_env:
        return from_env
    if not data_dir.is_dir():
        msg = (
            f"data dir {data_dir} does not exist: pass --data-dir (or SIGIL_DATA_DIR) of "
            "a 'sigil up', or set SIGIL_NATS_URL"
        )
        raise CliError(msg, ExitCode.USAGE)
    url_file = data_dir / "nats.url"
    if not url_file.is_file():
        msg = f"{data_dir} has no nats.url: start the stack with 'sigil up' first"
        raise CliError(msg, ExitCode.UNAVAILABLE)
    return url_file.read_text(encoding="utf-8").strip()


def probe(url: str) -> None:
    """Raise CliError (exit 6) unless one of the servers of ``url`` accepts a connection."""
    problems = []
    for server in url.split(","):
        parts = urlsplit(server.strip() if "://" in server else f"nats://{server.strip()}")
        try:
            host, port = parts.hostname or "127.0.0.1", parts.port or 4222
        except ValueError:
            problems.append(f"{server.strip()}: not a NATS URL")
            continue
        try:
            with socket.create_connection((host, port), timeout=PROBE_TIMEOUT):
                return
        except OSError as err:
            problems.append(f"{host}:{port}: {err.strerror or type(err).__name__}")
    msg = f"NATS is unreachable ({'; '.join(problems)}): is the stack running?"
    raise CliError(msg, ExitCode.UNAVAILABLE)


def _ready(data_dir: Path) -> None:
    probe(nats_url(data_dir))


def keys_status(data_dir: Path, *, as_json: bool) -> int:
    """How many data keys each KEK wraps."""
    _ready(data_dir)
    import asyncio  # noqa: PLC0415

    from sigil_cli import admin  # noqa: PLC0415
    from sigil_secrets import admin as secrets_admin  # noqa: PLC0415

    settings = admin._secrets_settings(data_dir)
    counts = asyncio.run(secrets_admin.keys_in_use(settings))  # type: ignore[arg-type]
    if as_json:
        out(json.dumps(counts, indent=2, sort_keys=True))
    else:
        out("\n".join(f"{key_id}\t{count}" for key_id, count in sorted(counts.items())))
    return ExitCode.OK


def keys_rotate(data_dir: Path, *, rewrap_only: bool, audit_key: bool) -> int:
    """Add a new current KEK (unless ``rewrap_only``) and re-wrap every data key.

    With ``audit_key``, rotate the audit-chain key instead (the AUDIT team's function).
    """
    _ready(data_dir)
    from sigil_cli import admin  # noqa: PLC0415

    args = argparse.Namespace(data_dir=data_dir, rewrap_only=rewrap_only, audit_key=audit_key)
    return admin.keys_rotate(args)


def audit_verify(data_dir: Path, *, org: str | None, as_json: bool) -> int:
    """The AUDIT team's chain verification (``sigil_cli.admin``), after the fail-fast checks."""
    _ready(data_dir)
    from sigil_cli import admin  # noqa: PLC0415

    outcome = admin.verify_audit_chains(data_dir, org)
    if as_json:
        out(json.dumps({"ok": outcome.exit_code == 0, "lines": outcome.lines}, indent=2))
    elif outcome.exit_code == 0:
        out("\n".join(outcome.lines))
    else:
        sys.stderr.write("\n".join(outcome.lines) + "\n")
    return outcome.exit_code
