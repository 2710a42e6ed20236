"""Commands that talk to NATS directly: ``keys``, ``audit verify``, ``logs publish``.

The operator commands connect as the secrets user, ``logs publish`` as the platform
user. Before anything else they check that the data dir (or ``SIGIL_NATS_URL``) is
there and that a NATS server answers, so a stopped stack is one clear line within
seconds, not minutes of reconnect attempts and tracebacks.
"""

import argparse
import json
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sigil_cli.exitcodes import CliError, ExitCode
from sigil_cli.output import out

if TYPE_CHECKING:  # admin imports the secrets service's code: only when a command runs
    from sigil_cli.admin import AuditVerifyOutcome

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


def _quiet_nats_logs() -> None:
    """nats-py logs every failed attempt with a traceback; the command says it in one line."""
    import logging  # noqa: PLC0415

    logging.getLogger("nats").setLevel(logging.CRITICAL + 1)


def check_login(url: str, user: str | None, password: str | None) -> None:
    """One connection attempt, no retries: a wrong password is one line, not a long hang."""
    import asyncio  # noqa: PLC0415

    import nats  # noqa: PLC0415
    import nats.errors  # noqa: PLC0415

    async def attempt() -> None:
        nc = await nats.connect(
            servers=[s.strip() for s in url.split(",")],
            user=user,
            password=password,
            allow_reconnect=False,
            max_reconnect_attempts=0,
            connect_timeout=PROBE_TIMEOUT,
            name="sigil-cli-check",
        )
        await nc.close()

    try:
        asyncio.run(attempt())
    except (nats.errors.Error, OSError, TimeoutError) as err:
        who = f"as {user}" if user else "without a user"
        msg = f"NATS at {url} refused the connection {who}: {err}"
        raise CliError(msg, ExitCode.PERMISSION) from err


def _credentials(data_dir: Path, default_user: str) -> tuple[str | None, str | None]:
    """``SIGIL_NATS_USER``/``SIGIL_NATS_PASSWORD``, else the data dir's ``default_user``."""
    user = os.environ.get("SIGIL_NATS_USER")
    if user:
        return user, os.environ.get("SIGIL_NATS_PASSWORD")
    users_file = data_dir / "nats-users.json"
    if not users_file.is_file():
        return None, None
    passwords: dict[str, str] = json.loads(users_file.read_text(encoding="utf-8"))
    return default_user, passwords.get(default_user)


def _ready(data_dir: Path, *, user: str = "secrets") -> tuple[str, str | None, str | None]:
    """Fail fast unless NATS answers and lets ``user`` in; the URL and credentials."""
    _quiet_nats_logs()
    url = nats_url(data_dir)
    probe(url)
    name, password = _credentials(data_dir, user)
    check_login(url, name, password)
    return url, name, password


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

    return _report(admin.verify_audit_chains(data_dir, org), as_json=as_json)


def audit_acknowledge_lost_head(data_dir: Path, *, org: str, as_json: bool) -> int:
    """Record that events were cut from the end of ``org``'s chain (``sigil_cli.admin``)."""
    _ready(data_dir)
    from sigil_cli import admin  # noqa: PLC0415

    return _report(admin.acknowledge_lost_head(data_dir, org), as_json=as_json)


def _report(outcome: "AuditVerifyOutcome", *, as_json: bool) -> int:
    """An audit operator command's lines: stdout when all is well, else stderr."""
    if as_json:
        out(json.dumps({"ok": outcome.exit_code == 0, "lines": outcome.lines}, indent=2))
    elif outcome.exit_code == 0:
        out("\n".join(outcome.lines))
    else:
        sys.stderr.write("\n".join(outcome.lines) + "\n")
    return outcome.exit_code


def logs_publish(
    data_dir: Path,
    deployment: str,
    *,
    org: str,
    customer_org: str | None,
    severity: str | None,
    resource: str | None,
    revision: int | None,
    as_json: bool,
) -> int:
    """Publish stdin's lines as raw log records of a deployment (the REDACTOR's publisher)."""
    from sigil_shared.ids import id_problem  # noqa: PLC0415

    for flag, value in (
        ("--org", org),
        ("--customer-org", customer_org),
        ("DEPLOYMENT", deployment),
    ):
        if value is not None and (problem := id_problem(value)):
            raise CliError(f"{flag} {problem}", ExitCode.USAGE)
    url, user, password = _ready(data_dir, user="platform")
    import asyncio  # noqa: PLC0415

    import nats.errors  # noqa: PLC0415

    from sigil_cli.logs_publish import publish_stdin  # noqa: PLC0415

    try:
        summary = asyncio.run(
            publish_stdin(
                servers=[s.strip() for s in url.split(",")],
                user=user,
                password=password,
                organization_id=org,
                deployment_id=deployment,
                severity=severity,
                resource=resource,
                customer_organization_id=customer_org,
                revision=revision,
            )
        )
    except (nats.errors.Error, TimeoutError, OSError) as err:
        reason = type(err).__name__
        msg = f"log lines not (all) published: the bus refused or did not answer ({reason})"
        raise CliError(msg, ExitCode.UNAVAILABLE) from err
    result = {"published": summary.published, "refused": summary.refused}
    if as_json:
        out(json.dumps(result))
    else:
        sys.stderr.write(f"sigil: published {summary.published} line(s)\n")
    if summary.refused:
        sys.stderr.write(
            f"sigil: {summary.refused} line(s) refused: longer than one message can hold\n"
        )
        return ExitCode.PROBLEMS
    return ExitCode.OK
