"""The ``sigil`` command (Typer): options, exit codes and errors; the work lives elsewhere.

Start-up is kept fast: only typer is imported up front, each command imports what it
needs (httpx, pydantic, the services) when it runs.
"""

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sigil_cli.exitcodes import EXIT_CODES_HELP, CliError, ExitCode, OutputClosedError
from sigil_cli.options import DEFAULT_DATA_DIR, GlobalOptions, hoist_global_options

HELP = f"""Sigil secret manager: store secrets once, use them in deployments, never see them again.

Global options (--url, --token, --data-dir) are accepted anywhere on the line and read
from SIGIL_URL, SIGIL_TOKEN and SIGIL_DATA_DIR. Values are read from stdin, '-',
--value-file or a hidden prompt, never from the command line. --json on every command.

{EXIT_CODES_HELP}
"""

app = typer.Typer(
    name="sigil",
    help=HELP,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
secrets_app = typer.Typer(help="Manage secrets (address them by KEY, or by id).")
render_app = typer.Typer(help="Template tools.")
logs_app = typer.Typer(help="Deployment logs.")
keys_app = typer.Typer(help="Key-encryption key management (operator, needs NATS).")
audit_app = typer.Typer(
    help="Audit events (list through the API), or verify the chain (operator, needs NATS)."
)
docs_app = typer.Typer(help="Generated documentation.")
for _sub, _name in (
    (secrets_app, "secrets"),
    (render_app, "render"),
    (logs_app, "logs"),
    (keys_app, "keys"),
    (docs_app, "docs"),
):
    app.add_typer(_sub, name=_name, no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
CustomerOrg = Annotated[
    str | None,
    typer.Option("--customer-org", "-c", help="Customer organization (default: vendor level)."),
]
ValueFile = Annotated[
    str | None,
    typer.Option(
        "--value-file",
        "-f",
        help="Read the value from this file ('-' = stdin). Default: stdin, or a hidden "
        "prompt on a terminal.",
    ),
]
KeepNewline = Annotated[
    bool, typer.Option("--keep-newline", help="Keep a trailing newline of the value.")
]


def _complete_keys(ctx: typer.Context, incomplete: str) -> list[str]:
    """``sigil secrets get DB_<TAB>``: the keys of the scope, from the API."""
    from sigil_cli.commands import complete_keys  # noqa: PLC0415

    root = ctx.find_root().params
    return complete_keys(
        root.get("url") or os.environ.get("SIGIL_URL"),
        root.get("token") or os.environ.get("SIGIL_TOKEN"),
        ctx.params.get("customer_org"),
        incomplete,
    )


SecretRef = Annotated[
    str,
    typer.Argument(
        metavar="KEY",
        help="Secret key (or its id).",
        show_default=False,
        autocompletion=_complete_keys,
    ),
]


def _opts(ctx: typer.Context) -> GlobalOptions:
    opts: GlobalOptions = ctx.find_root().obj
    return opts


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version  # noqa: PLC0415 - only for --version

        typer.echo(f"sigil {version('sigil-cli')}")
        raise typer.Exit


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(envvar="SIGIL_URL", help="Gateway URL [default: http://127.0.0.1:8080]."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="SIGIL_TOKEN",
            help="Bearer token (prefer SIGIL_TOKEN: a flag shows in ps and shell history).",
            show_envvar=True,
        ),
    ] = None,
    data_dir: Annotated[
        Path, typer.Option(envvar="SIGIL_DATA_DIR", help="Embedded data dir.")
    ] = DEFAULT_DATA_DIR,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Sigil secret manager."""
    del version
    ctx.obj = GlobalOptions(url=url, token=token, data_dir=data_dir)
    ctx.call_on_close(ctx.obj.resources.close)


# --- embedded stack and tokens -------------------------------------------------------


@app.command()
def up(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Gateway bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Gateway port.")] = 8080,
    nats_url: Annotated[
        str | None, typer.Option(help="Use this NATS instead of starting one.")
    ] = None,
    nats_port: Annotated[
        int, typer.Option(help="Embedded NATS port (-1 picks a free one).")
    ] = 4222,
) -> int:
    """Run the whole stack on an embedded NATS (Ctrl-C stops it)."""
    from sigil_cli.stack import StackOptions, run_stack  # noqa: PLC0415

    status = run_stack(
        StackOptions(
            data_dir=_opts(ctx).data_dir,
            host=host,
            port=port,
            nats_url=nats_url,
            nats_port=nats_port,
        )
    )
    # run_stack says 1 for "could not start"; 1 means "problems found" for every command.
    return ExitCode.OTHER if status == 1 else status


@app.command()
def init(ctx: typer.Context, as_json: Json = False) -> int:
    """Create the data dir's keys and the files docker-compose.yml mounts."""
    from sigil_cli.embedded import DataDir, write_compose_files  # noqa: PLC0415
    from sigil_cli.output import emit  # noqa: PLC0415

    data_dir = _opts(ctx).data_dir
    folder = write_compose_files(DataDir(data_dir))
    emit(
        as_json,
        {"dataDir": str(data_dir), "composeDir": str(folder)},
        f"credentials in {data_dir}, docker-compose files in {folder}\n"
        f"start: docker compose --env-file {folder / 'compose.env'} up -d --build",
    )
    return ExitCode.OK


@app.command()
def token(
    ctx: typer.Context,
    *,
    org: Annotated[str, typer.Option(help="Vendor organization id.", show_default=False)],
    role: Annotated[str, typer.Option(help="read_only, read_write or admin.", show_default=False)],
    customer_org: CustomerOrg = None,
    sub: Annotated[str | None, typer.Option(help="User id (default: dev-<random>).")] = None,
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.", min=1)] = 12 * 3600,
    as_json: Json = False,
) -> int:
    """Print a JWT signed with the local key (works with the stack down)."""
    from sigil_cli.output import emit  # noqa: PLC0415
    from sigil_cli.tokens import TokenError, issue_token, signing_key  # noqa: PLC0415

    try:
        jwt = issue_token(
            signing_key(_opts(ctx).data_dir),
            org=org,
            role=role,
            customer_org=customer_org,
            sub=sub,
            ttl_seconds=ttl,
        )
    except TokenError as err:
        raise CliError(str(err), ExitCode.USAGE) from err
    emit(as_json, {"token": jwt}, jwt)
    return ExitCode.OK


# --- secrets ---------------------------------------------------------------------------


@secrets_app.command("list")
def secrets_list(
    ctx: typer.Context,
    customer_org: Annotated[
        str | None, typer.Option("--customer-org", "-c", help="Only this customer's secrets.")
    ] = None,
    vendor_only: Annotated[bool, typer.Option(help="Only vendor-level secrets.")] = False,
    as_json: Json = False,
) -> int:
    """List secrets of your scope (metadata only)."""
    from sigil_cli import commands  # noqa: PLC0415

    return commands.secrets_list(
        _opts(ctx), customer_org=customer_org, vendor_only=vendor_only, as_json=as_json
    )


@secrets_app.command("get")
def secrets_get(
    ctx: typer.Context, ref: SecretRef, customer_org: CustomerOrg = None, as_json: Json = False
) -> int:
    """Show a secret's metadata and versions (never its value)."""
    from sigil_cli import commands  # noqa: PLC0415

    return commands.secrets_get(_opts(ctx), ref, customer_org=customer_org, as_json=as_json)


@secrets_app.command("history")
def secrets_history(
    ctx: typer.Context, ref: SecretRef, customer_org: CustomerOrg = None, as_json: Json = False
) -> int:
    """Who wrote each version of a secret, and when (newest first)."""
    from sigil_cli import commands  # noqa: PLC0415

    return commands.secrets_history(_opts(ctx), ref, customer_org=customer_org, as_json=as_json)


def _stdin_marker(value: str | None) -> str | None:
    if value not in (None, "-"):
        msg = "values are never taken from the command line: use '-', --value-file or stdin"
        raise CliError(msg, ExitCode.USAGE)
    return value


StdinMarker = Annotated[
    str | None,
    typer.Argument(metavar="[-]", help="'-' to read the value from stdin.", show_default=False),
]


@secrets_app.command("create")
def secrets_create(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(metavar="KEY", help="Secret key.", show_default=False)],
    stdin: StdinMarker = None,
    *,
    customer_org: CustomerOrg = None,
    value_file: ValueFile = None,
    keep_newline: KeepNewline = False,
    as_json: Json = False,
) -> int:
    """Create a secret (value from stdin, --value-file or a hidden prompt)."""
    from sigil_cli import commands  # noqa: PLC0415

    return commands.secrets_create(
        _opts(ctx),
        key,
        customer_org=customer_org,
        value_file=value_file or _stdin_marker(stdin),
        keep_newline=keep_newline,
        as_json=as_json,
    )


@secrets_app.command("update")
def secrets_update(
    ctx: typer.Context,
    ref: SecretRef,
    stdin: StdinMarker = None,
    *,
    customer_org: CustomerOrg = None,
    value_file: ValueFile = None,
    keep_newline: KeepNewline = False,
    expected_version: Annotated[
        int | None, typer.Option(help="Refuse (exit 4) unless this is the current version.")
    ] = None,
    as_json: Json = False,
) -> int:
    """Store a new value (a new version) of a secret."""
    from sigil_cli import commands  # noqa: PLC0415

    return commands.secrets_update(
        _opts(ctx),
        ref,
        customer_org=customer_org,
        value_file=value_file or _stdin_marker(stdin),
        keep_newline=keep_newline,
        expected_version=expected_version,
        as_json=as_json,
    )


@secrets_app.command("delete")
def secrets_delete(
    ctx: typer.Context,
    ref: SecretRef,
    customer_org: CustomerOrg = None,
    force: Annotated[bool, typer.Option(help="Even if live deployments use it.")] = False,
    as_json: Json = False,
) -> int:
    """Delete a secret (exit 4 while a live deployment uses it, unless --force)."""
    from sigil_cli import commands  # noqa: PLC0415

    return commands.secrets_delete(
        _opts(ctx), ref, customer_org=customer_org, force=force, as_json=as_json
    )


@secrets_app.command("import")
def secrets_import(
    ctx: typer.Context,
    file: Annotated[
        str,
        typer.Argument(metavar="FILE", help="KEY=value file ('-' = stdin).", show_default=False),
    ],
    customer_org: CustomerOrg = None,
    as_json: Json = False,
) -> int:
    """Create or update every key of a .env file (values are never printed)."""
    from sigil_cli import commands  # noqa: PLC0415

    return commands.secrets_import(_opts(ctx), file, customer_org=customer_org, as_json=as_json)


# --- templates, logs, audit -------------------------------------------------------------


@render_app.command("validate")
def render_validate(
    ctx: typer.Context,
    files: Annotated[list[str], typer.Argument(help=".env / Helm values files ('-' = stdin).")],
    customer_org: CustomerOrg = None,
    file_type: Annotated[
        str,
        typer.Option("--type", help="auto (by extension: .yaml/.yml = Helm values), env or yaml."),
    ] = "auto",
    as_json: Json = False,
) -> int:
    """Check templates as a deployment of your scope; exit 1 when problems are found."""
    from sigil_cli import commands  # noqa: PLC0415

    if file_type not in ("auto", "env", "yaml"):
        msg = f"--type must be auto, env or yaml, not {file_type!r}"
        raise CliError(msg, ExitCode.USAGE)
    return commands.render_validate(
        _opts(ctx), files, customer_org=customer_org, file_type=file_type, as_json=as_json
    )


@logs_app.command("tail")
def logs_tail(
    ctx: typer.Context,
    deployment: Annotated[
        str, typer.Argument(metavar="DEPLOYMENT", help="Deployment id.", show_default=False)
    ],
    as_json: Json = False,
) -> int:
    """Follow a deployment's redacted logs (Ctrl-C stops)."""
    from sigil_cli import commands  # noqa: PLC0415

    return commands.logs_tail(_opts(ctx), deployment, as_json=as_json)


@logs_app.command("publish")
def logs_publish(
    ctx: typer.Context,
    deployment: Annotated[
        str, typer.Argument(metavar="DEPLOYMENT", help="Deployment id.", show_default=False)
    ],
    *,
    org: Annotated[str, typer.Option(help="Vendor organization id.", show_default=False)],
    customer_org: CustomerOrg = None,
    severity: Annotated[str | None, typer.Option(help="Severity of every line.")] = None,
    resource: Annotated[str | None, typer.Option(help="Resource of every line.")] = None,
    revision: Annotated[int | None, typer.Option(help="Deployment revision.", min=1)] = None,
    as_json: Json = False,
) -> int:
    """Publish stdin's lines as raw log records (platform user; NATS from the data dir)."""
    from sigil_cli import operator  # noqa: PLC0415

    return operator.logs_publish(
        _opts(ctx).data_dir,
        deployment,
        org=org,
        customer_org=customer_org,
        severity=severity,
        resource=resource,
        revision=revision,
        as_json=as_json,
    )


@app.command("audit")
def audit_list(
    ctx: typer.Context,
    action: Annotated[
        str | None,
        typer.Argument(help="'verify' checks the chains; 'acknowledge-lost-head' (with --org)."),
    ] = None,
    *,
    key: Annotated[str | None, typer.Option(help="Only events of this key.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only events of this user.")] = None,
    event: Annotated[
        str | None, typer.Option("--action", help="Only this action (create, update...).")
    ] = None,
    since: Annotated[str | None, typer.Option("--from", help="ISO time, inclusive.")] = None,
    until: Annotated[str | None, typer.Option("--to", help="ISO time, inclusive.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many events.", min=1)] = 1000,
    org: Annotated[
        str | None,
        typer.Option(
            help="verify: only this organization (default: all); acknowledge-lost-head: which."
        ),
    ] = None,
    as_json: Json = False,
) -> int:
    """List audit events (admins); 'sigil audit verify [--org ORG]' checks the chains;
    'sigil audit acknowledge-lost-head --org ORG' lets an organization whose chain lost its
    end (its changes are refused) go on, recording the loss in the chain."""
    if action == "verify":
        return _audit_verify(ctx, org=org, as_json=as_json)
    if action == "acknowledge-lost-head":
        if org is None:
            raise CliError("acknowledge-lost-head needs --org ORG", ExitCode.USAGE)
        from sigil_cli import operator  # noqa: PLC0415

        return operator.audit_acknowledge_lost_head(_opts(ctx).data_dir, org=org, as_json=as_json)
    if action is not None:
        msg = f"unknown audit command {action!r} (did you mean 'verify'?)"
        raise CliError(msg, ExitCode.USAGE)
    if org is not None:
        msg = "--org is for 'sigil audit verify'; listing shows your token's organization"
        raise CliError(msg, ExitCode.USAGE)
    from sigil_cli import commands  # noqa: PLC0415

    filters = {"key": key, "actor": actor, "action": event, "from": since, "to": until}
    return commands.audit_list(_opts(ctx), filters=filters, limit=limit, as_json=as_json)


def _audit_verify(ctx: typer.Context, *, org: str | None, as_json: bool) -> int:
    from sigil_cli import operator  # noqa: PLC0415

    return operator.audit_verify(_opts(ctx).data_dir, org=org, as_json=as_json)


@keys_app.command("status")
def keys_status(ctx: typer.Context, as_json: Json = False) -> int:
    """Data keys per KEK (0 = safe to retire)."""
    from sigil_cli import operator  # noqa: PLC0415

    return operator.keys_status(_opts(ctx).data_dir, as_json=as_json)


@keys_app.command("rotate")
def keys_rotate(
    ctx: typer.Context,
    *,
    rewrap_only: Annotated[bool, typer.Option(help="Only re-wrap under the current key.")] = False,
    audit_key: Annotated[
        bool, typer.Option(help="Rotate the audit-chain key instead (older keys still verify).")
    ] = False,
) -> int:
    """Add a new KEK and re-wrap every data key under it (or rotate the audit key)."""
    from sigil_cli import operator  # noqa: PLC0415

    return operator.keys_rotate(_opts(ctx).data_dir, rewrap_only=rewrap_only, audit_key=audit_key)


@docs_app.command("asyncapi")
def docs_asyncapi(
    check: Annotated[bool, typer.Option(help="Fail if a committed copy is stale.")] = False,
) -> int:
    """Write docs/asyncapi.json from the code."""
    import argparse  # noqa: PLC0415

    from sigil_cli.asyncapi import docs_command  # noqa: PLC0415

    return docs_command(argparse.Namespace(check=check))


# --- entry point -----------------------------------------------------------------------


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush cannot complain."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _report(err: CliError, *, as_json: bool) -> int:
    from sigil_cli.output import out  # noqa: PLC0415

    if as_json:
        import json  # noqa: PLC0415

        # Scripts read stdout: every failure under --json is an error object there too.
        payload = err.payload
        if payload is None:
            code = err.code.name.lower()
            payload = {"error": {"code": code, "message": err.message, "details": None}}
        out(json.dumps(payload, indent=2))
    sys.stderr.write(f"sigil: {err.message}\n")
    return int(err.code)


def _run(args: list[str]) -> int:
    as_json = "--json" in args[: args.index("--")] if "--" in args else "--json" in args
    command = typer.main.get_command(app)
    try:
        result: Any = command.main(args=args, prog_name="sigil", standalone_mode=False)
    except CliError as err:
        return _report(err, as_json=as_json)
    except typer.TyperException as err:
        show = getattr(err, "show", None)
        if callable(show):
            show()
        else:
            sys.stderr.write(f"sigil: {err.format_message()}\n")
        return ExitCode.USAGE if err.exit_code in (1, 2) else int(err.exit_code)
    except typer.Abort:
        sys.stderr.write("sigil: aborted\n")
        return ExitCode.USAGE
    return int(result) if isinstance(result, int) else ExitCode.OK


def _sigil_error(err: Exception) -> tuple[str, int] | None:
    """Message and exit code of a Sigil error raised by a service package we called.

    Their messages never carry a value (an ARCHITECTURE rule), so they can be shown.
    """
    errors = sys.modules.get("sigil_shared.errors")  # loaded if one was raised
    if errors is None or not isinstance(err, errors.SigilError):
        return None
    from sigil_cli.exitcodes import exit_for_status  # noqa: PLC0415

    return err.message, int(exit_for_status(errors.HTTP_STATUS.get(err.code, 500)))


def main(argv: list[str] | None = None) -> int:
    """Run one ``sigil`` command; returns its exit status (see ``EXIT_CODES_HELP``)."""
    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    try:
        status = _run(args)
        sys.stdout.flush()
    except (OutputClosedError, BrokenPipeError):
        # `sigil audit | head`: the reader has what it wanted; no traceback, no error.
        _silence_stdout()
        return ExitCode.OK
    except KeyboardInterrupt:
        sys.stderr.write("sigil: interrupted\n")
        return 130
    except Exception as err:
        if os.environ.get("SIGIL_DEBUG"):
            raise
        if isinstance(err, OSError):
            # A path the user gave (data dir, file) or the network: strerror and file name
            # only, both free of values.
            where = f" ({err.filename})" if err.filename else ""
            reason = err.strerror or type(err).__name__
            sys.stderr.write(f"sigil: {reason}{where}\n")
            return ExitCode.USAGE if err.filename else ExitCode.UNAVAILABLE
        known = _sigil_error(err)
        if known is not None:
            sys.stderr.write(f"sigil: {known[0]}\n")
            return known[1]
        # Only the type: an unexpected exception's text is not known to be value-free.
        sys.stderr.write(
            f"sigil: unexpected error ({type(err).__name__}); "
            "run again with SIGIL_DEBUG=1 for the traceback\n"
        )
        return ExitCode.OTHER
    return status


if __name__ == "__main__":
    sys.exit(main())
