"""``sigil keys ...`` and ``sigil audit verify``: operator commands run as the secrets user."""

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from sigil_cli.embedded import DataDir


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
    os.environ.update(defaults)
    return load_settings(SecretsSettings, "sigil")


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\rre-wrapping [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def keys_rotate(args: argparse.Namespace) -> int:
    """Add a new current KEK (unless --rewrap-only) and re-wrap every data key under it."""
    from sigil_secrets import admin  # noqa: PLC0415 - needs the secrets package

    settings = _secrets_settings(args.data_dir)
    kek_file = getattr(settings, "kek_file", None)
    if not args.rewrap_only:
        if getattr(settings, "kek", None) is not None or kek_file is None:
            print(
                "sigil keys rotate: needs SIGIL_KEK_FILE; with an inline SIGIL_KEK put the new "
                "key first yourself, restart, then run 'sigil keys rotate --rewrap-only'",
                file=sys.stderr,
            )
            return 2
        admin.add_key(Path(kek_file), f"k{int(time.time())}")
    report = asyncio.run(admin.rewrap_all(settings, progress=_progress))  # type: ignore[arg-type]
    print(
        f"current key {report.current_key}: {report.rewrapped} of {report.envelopes} data keys "
        f"re-wrapped, {report.skipped_changed} changed meanwhile (run again to finish)"
    )
    return 0


def keys_status(args: argparse.Namespace) -> int:
    """Print how many data keys each KEK wraps."""
    from sigil_secrets import admin  # noqa: PLC0415

    settings = _secrets_settings(args.data_dir)
    counts = asyncio.run(admin.keys_in_use(settings))  # type: ignore[arg-type]
    for key_id, count in sorted(counts.items()):
        print(f"{key_id}\t{count}")
    return 0


def audit_verify(args: argparse.Namespace) -> int:
    """Check one organization's audit hash chain; exit 1 naming the first broken link."""
    from sigil_secrets import admin  # noqa: PLC0415

    settings = _secrets_settings(args.data_dir)
    report = asyncio.run(admin.verify_chain(settings, args.org))  # type: ignore[arg-type]
    if report.broken_at is None:
        print(f"audit chain of {args.org}: {report.events} events, intact")
        return 0
    print(
        f"audit chain of {args.org}: broken at event #{report.broken_at} "
        f"(id {report.broken_event_id}) of {report.events}",
        file=sys.stderr,
    )
    return 1


def audit_list_command(args: argparse.Namespace) -> int:
    """``sigil audit``: list events through the API."""
    from sigil_cli.commands import audit_list, run_api  # noqa: PLC0415

    return run_api(audit_list, args)


def add_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register ``keys`` and ``audit`` commands."""
    keys = sub.add_parser("keys", help="key-encryption key management")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    rotate = keys_sub.add_parser("rotate", help="add a new KEK and re-wrap every data key")
    rotate.add_argument(
        "--rewrap-only", action="store_true", help="only re-wrap under the current key"
    )
    rotate.set_defaults(func=keys_rotate)
    status = keys_sub.add_parser("status", help="data keys per KEK (0 = safe to retire)")
    status.set_defaults(func=keys_status)

    audit = sub.add_parser("audit", help="audit events (list), or verify the hash chain")
    audit.add_argument("--json", action="store_true", help="machine-readable output")
    audit.add_argument("--key")
    audit.add_argument("--actor")
    audit.add_argument("--action")
    audit.set_defaults(func=audit_list_command)
    audit_sub = audit.add_subparsers(dest="audit_command")
    verify = audit_sub.add_parser("verify", help="check an organization's hash chain")
    verify.add_argument("--org", required=True)
    verify.set_defaults(func=audit_verify)
