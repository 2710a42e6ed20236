"""``sigil keys ...`` and ``sigil audit verify``: operator commands run as the secrets user."""

import argparse
import asyncio
import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sigil_cli.embedded import DataDir

if TYPE_CHECKING:
    from sigil_secrets.audit_admin import AuditVerification


def _secrets_settings(data_dir: Path) -> object:
    """Secrets settings from the environment, defaulting to the embedded data dir."""
    from sigil_shared.settings import SecretsSettings, load_settings  # noqa: PLC0415

    data = DataDir(data_dir)
    defaults: dict[str, str] = {}
    if data.users_file.exists() and "SIGIL_NATS_USER" not in os.environ:
        defaults["SIGIL_NATS_USER"] = "secrets"
        defaults["SIGIL_NATS_PASSWORD"] = data.passwords()["secrets"]
    if data.nats_url_file.exists() and "SIGIL_NATS_URL" not in os.environ:
        defaults["SIGIL_NATS_URL"] = data.nats_url_file.read_text(encoding="utf-8").strip()
    if "SIGIL_KEK" not in os.environ and "SIGIL_KEK_FILE" not in os.environ:
        defaults["SIGIL_KEK_FILE"] = str(data.kek_file)
    if "SIGIL_AUDIT_KEY" not in os.environ and "SIGIL_AUDIT_KEY_FILE" not in os.environ:
        defaults["SIGIL_AUDIT_KEY_FILE"] = str(data.audit_key_file)
    os.environ.update(defaults)
    return load_settings(SecretsSettings, "sigil")


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\rre-wrapping [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _new_key_id(prefix: str) -> str:
    """A key id that cannot collide with one made in the same second (ids must be unique)."""
    return f"{prefix}{int(time.time())}-{secrets.token_hex(3)}"


def keys_rotate(args: argparse.Namespace) -> int:
    """Add a new current KEK (unless --rewrap-only) and re-wrap every data key under it.

    With ``audit_key``: add a new current audit key instead (older keys stay in the audit
    keyring so earlier events keep verifying). Either way the run is audited first (one
    ``keys.rotate`` event in the operator chain); if that fails nothing changes (exit 6).
    """
    from sigil_secrets import admin, audit_admin  # noqa: PLC0415 - needs the secrets package

    settings = _secrets_settings(args.data_dir)
    if getattr(args, "audit_key", False):
        return _rotate_audit_key(settings, _new_key_id("audit-"))
    rewrap_only = bool(getattr(args, "rewrap_only", False))
    kek_file = getattr(settings, "kek_file", None)
    if not rewrap_only and (getattr(settings, "kek", None) is not None or kek_file is None):
        print(
            "sigil keys rotate: needs SIGIL_KEK_FILE; with an inline SIGIL_KEK put the new "
            "key first yourself, restart, then run 'sigil keys rotate --rewrap-only'",
            file=sys.stderr,
        )
        return 2
    new_id = _new_key_id("k")
    details = {"key": "kek", "mode": "rewrap-only" if rewrap_only else "rotate"}
    if not rewrap_only:
        details["new_key_id"] = new_id
    try:
        asyncio.run(audit_admin.record_rotation(settings, details))  # type: ignore[arg-type]
    except audit_admin.AuditAdminError as err:
        print(f"sigil keys rotate: {err}", file=sys.stderr)
        return 6
    if not rewrap_only:
        admin.add_key(Path(kek_file), new_id)  # type: ignore[arg-type]
    report = asyncio.run(admin.rewrap_all(settings, progress=_progress))  # type: ignore[arg-type]
    print(
        f"current key {report.current_key}: {report.rewrapped} of {report.envelopes} data keys "
        f"re-wrapped, {report.skipped_changed} changed meanwhile (run again to finish)"
    )
    return 0


def _rotate_audit_key(settings: object, new_id: str) -> int:
    """Audit, then put a new current key at the top of the audit keyring file."""
    from sigil_secrets import admin, audit_admin  # noqa: PLC0415

    key_file = getattr(settings, "audit_key_file", None)
    if getattr(settings, "audit_key", None) is not None or key_file is None:
        print(
            "sigil keys rotate --audit-key: needs SIGIL_AUDIT_KEY_FILE; with an inline "
            "SIGIL_AUDIT_KEY put the new key first yourself and restart",
            file=sys.stderr,
        )
        return 2
    details = {"key": "audit", "mode": "rotate", "new_key_id": new_id}
    try:
        asyncio.run(audit_admin.record_rotation(settings, details))  # type: ignore[arg-type]
    except audit_admin.AuditAdminError as err:
        print(f"sigil keys rotate: {err}", file=sys.stderr)
        return 6
    admin.add_key(Path(key_file), new_id)
    print(f"current audit key {new_id}: new events are sealed with it; older keys still verify")
    return 0


def keys_status(args: argparse.Namespace) -> int:
    """Print how many data keys each KEK wraps."""
    from sigil_secrets import admin  # noqa: PLC0415

    settings = _secrets_settings(args.data_dir)
    counts = asyncio.run(admin.keys_in_use(settings))  # type: ignore[arg-type]
    for key_id, count in sorted(counts.items()):
        print(f"{key_id}\t{count}")
    return 0


@dataclass(frozen=True)
class AuditVerifyOutcome:
    """Result of ``sigil audit verify``, independent of the CLI framework around it.

    ``exit_code``: 0 every chain intact and the stream cannot drop events, 1 a problem was
    found (named in ``lines``), 6 NATS or the audit stream could not be reached.
    """

    exit_code: int
    lines: list[str]
    result: "AuditVerification | None" = None


def verify_audit_chains(data_dir: Path, org: str | None = None) -> AuditVerifyOutcome:
    """Check the audit stream's configuration and every (or one) organization's chain."""
    from sigil_secrets import audit_admin  # noqa: PLC0415

    settings = _secrets_settings(data_dir)
    try:
        result = asyncio.run(
            audit_admin.verify_audit(settings, organization_id=org)  # type: ignore[arg-type]
        )
    except audit_admin.AuditAdminError as err:
        return AuditVerifyOutcome(6, [f"audit verify: {err}"])
    lines = result.lines() or ["audit stream holds no events"]
    return AuditVerifyOutcome(0 if result.ok else 1, lines, result)


def audit_verify(args: argparse.Namespace) -> int:
    """``sigil audit verify [--org ORG]``: print the report; exit 1 naming any problem."""
    outcome = verify_audit_chains(args.data_dir, getattr(args, "org", None))
    stream = sys.stdout if outcome.exit_code == 0 else sys.stderr
    for line in outcome.lines:
        print(line, file=stream)
    return outcome.exit_code


def acknowledge_lost_head(data_dir: Path, org: str) -> AuditVerifyOutcome:
    """``sigil audit acknowledge-lost-head --org ORG``: record in the chain that events were
    cut from its end, so the organization's changes go on (verify keeps naming the loss).
    Exit 0 when recorded or when nothing was cut, 6 when it could not be recorded."""
    from sigil_secrets import audit_admin  # noqa: PLC0415

    settings = _secrets_settings(data_dir)
    try:
        event = asyncio.run(
            audit_admin.acknowledge_lost_head(settings, org)  # type: ignore[arg-type]
        )
    except audit_admin.AuditAdminError as err:
        return AuditVerifyOutcome(6, [f"audit acknowledge-lost-head: {err}"])
    if event is None:
        return AuditVerifyOutcome(0, [f"audit chain of {org}: nothing cut, nothing to acknowledge"])
    details = event.details or {}
    first = int(details.get("streamPosition", "0")) + 1
    last = details.get("anchoredPosition", "?")
    return AuditVerifyOutcome(
        0,
        [
            f"audit chain of {org}: the loss of positions {first}..{last} is recorded as event "
            f"{event.id} at position {event.chain_seq}; its changes go on, and verify keeps "
            "reporting the loss"
        ],
    )
