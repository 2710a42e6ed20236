"""Command-line entry point: ``sigil up``, ``sigil token`` and the admin commands."""

import argparse
import sys
from pathlib import Path

from sigil_cli import admin, asyncapi, commands
from sigil_cli.embedded import DataDir, write_compose_files
from sigil_cli.stack import StackOptions, run_stack
from sigil_cli.tokens import TokenError, issue_token, signing_key

DEFAULT_DATA_DIR = Path(".sigil")


def _up(args: argparse.Namespace) -> int:
    return run_stack(
        StackOptions(
            data_dir=args.data_dir,
            host=args.host,
            port=args.port,
            nats_url=args.nats_url,
            nats_port=args.nats_port,
        )
    )


def _init(args: argparse.Namespace) -> int:
    folder = write_compose_files(DataDir(args.data_dir))
    print(f"credentials in {args.data_dir}, docker-compose files in {folder}")
    return 0


def _token(args: argparse.Namespace) -> int:
    try:
        token = issue_token(
            signing_key(args.data_dir),
            org=args.org,
            role=args.role,
            customer_org=args.customer_org,
            sub=args.sub,
            ttl_seconds=args.ttl,
        )
    except TokenError as err:
        print(f"sigil token: {err}", file=sys.stderr)
        return 2
    print(token)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``sigil`` argument parser."""
    parser = argparse.ArgumentParser(prog="sigil", description="Sigil secret manager")
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="embedded data dir (.sigil)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the whole stack on an embedded NATS")
    up.add_argument("--host", default="127.0.0.1", help="gateway bind address")
    up.add_argument("--port", type=int, default=8080, help="gateway port")
    up.add_argument("--nats-url", help="use this NATS instead of starting one")
    up.add_argument(
        "--nats-port", type=int, default=4222, help="embedded NATS port (-1 picks a free one)"
    )
    up.set_defaults(func=_up)

    init = sub.add_parser(
        "init", help="create the data dir's keys and the files docker-compose.yml mounts"
    )
    init.set_defaults(func=_init)

    tok = sub.add_parser("token", help="print a JWT signed with the local key")
    tok.add_argument("--org", required=True)
    tok.add_argument("--role", required=True, choices=["read_only", "read_write", "admin"])
    tok.add_argument("--customer-org")
    tok.add_argument("--sub")
    tok.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    tok.set_defaults(func=_token)
    admin.add_parsers(sub)
    commands.add_parsers(sub)
    asyncapi.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one ``sigil`` command."""
    args = build_parser().parse_args(argv)
    if args.func.__module__ == commands.__name__:
        return commands.run_api(args.func, args)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
