"""``sigil secrets``, ``sigil render validate``, ``sigil logs tail``, ``sigil audit``."""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sigil_cli.client import ApiClient, ApiError


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    if not rows:
        return "(none)"
    cells = [
        [str(r.get(key) if r.get(key) is not None else "-") for key, _ in columns] for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h) in enumerate(columns)]
    lines = ["  ".join(h.ljust(w) for (_, h), w in zip(columns, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2) if args.json else text)


def _read_value(args: argparse.Namespace) -> str:
    """The secret value from --value-file or stdin, never from the command line."""
    if args.value_file:
        value = Path(args.value_file).read_text(encoding="utf-8")
    else:
        if sys.stdin.isatty():
            print("value (end with Ctrl-D): ", end="", file=sys.stderr, flush=True)
        value = sys.stdin.read()
    # A trailing newline from `echo` or an editor is almost never part of the secret.
    return value[:-1] if value.endswith("\n") and not args.keep_newline else value


SECRET_COLUMNS = [
    ("id", "ID"),
    ("key", "KEY"),
    ("customerOrganizationId", "CUSTOMER"),
    ("version", "VERSION"),
    ("updatedBy", "UPDATED BY"),
    ("updatedAt", "UPDATED AT"),
]


def secrets_list(args: argparse.Namespace) -> int:
    api = ApiClient()
    params: dict[str, str] = {"limit": "1000"}
    if args.customer_org:
        params["customerOrganizationId"] = args.customer_org
    items: list[dict[str, Any]] = []
    while True:
        page = api.call("GET", "/api/v1/secrets", params=params)
        items += page["items"]
        if not page.get("nextCursor"):
            break
        params["cursor"] = page["nextCursor"]
    _emit(args, items, _table(items, SECRET_COLUMNS))
    return 0


def secrets_create(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"key": args.key, "value": _read_value(args)}
    if args.customer_org:
        body["customerOrganizationId"] = args.customer_org
    created = ApiClient().call("POST", "/api/v1/secrets", json=body)
    _emit(args, created, f"created {created['key']} (id {created['id']}, version 1)")
    return 0


def secrets_update(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"value": _read_value(args)}
    if args.expected_version:
        body["expectedVersion"] = args.expected_version
    updated = ApiClient().call("PUT", f"/api/v1/secrets/{args.id}", json=body)
    affected = updated.get("affectedDeployments") or []
    text = f"updated {updated['key']} to version {updated['version']}"
    if affected:
        text += "\nstill rendered with older values (redeploy to pick it up):\n" + "\n".join(
            f"  {a['deploymentId']} revision {a['revision']}" for a in affected
        )
    _emit(args, updated, text)
    return 0


def secrets_delete(args: argparse.Namespace) -> int:
    params = {"force": "true"} if args.force else {}
    ApiClient().call("DELETE", f"/api/v1/secrets/{args.id}", params=params)
    _emit(args, {"deleted": args.id}, f"deleted {args.id}")
    return 0


def render_validate(args: argparse.Namespace) -> int:
    api = ApiClient()
    failed = False
    results = []
    for name in args.files:
        path = Path(name)
        text = path.read_text(encoding="utf-8")
        field = "valuesYaml" if path.suffix in (".yaml", ".yml") else "envFile"
        body: dict[str, Any] = {field: text}
        if args.customer_org:
            body["customerOrganizationId"] = args.customer_org
        result = api.call("POST", "/api/v1/templates/validate", json=body)
        results.append({"file": name, **result})
        for error in result["errors"]:
            failed = True
            where = f"{name}:{error.get('line') or 0}:{error.get('column') or 0}"
            if not args.json:
                print(f"{where}: {error['message']}")
    if args.json:
        print(json.dumps(results, indent=2))
    elif not failed:
        print(f"{len(args.files)} file(s) valid")
    return 1 if failed else 0


def logs_tail(args: argparse.Namespace) -> int:
    api = ApiClient()
    try:
        for record in api.stream(f"/api/v1/deployments/{args.deployment}/logs/stream"):
            if args.json:
                print(json.dumps(record), flush=True)
            else:
                print(
                    f"{record['timestamp']} {record.get('severity') or ''} {record['body']}",
                    flush=True,
                )
    except KeyboardInterrupt:
        return 0
    return 0


def audit_list(args: argparse.Namespace) -> int:
    params = {
        k: v for k, v in (("key", args.key), ("actor", args.actor), ("action", args.action)) if v
    }
    page = ApiClient().call("GET", "/api/v1/audit", params=params | {"limit": "1000"})
    columns = [
        ("at", "AT"),
        ("actorId", "ACTOR"),
        ("action", "ACTION"),
        ("key", "KEY"),
        ("customerOrganizationId", "CUSTOMER"),
        ("version", "VERSION"),
        ("outcome", "OUTCOME"),
    ]
    _emit(args, page["items"], _table(page["items"], columns))
    return 0


def run_api(func: Any, args: argparse.Namespace) -> int:
    """Run one API command; errors become one line on stderr and exit 2."""
    try:
        status: int = func(args)
    except ApiError as err:
        print(f"sigil: {err}", file=sys.stderr)
        return 2
    return status


def add_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register the API commands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")

    secrets = sub.add_parser("secrets", help="manage secrets (SIGIL_URL, SIGIL_TOKEN)")
    s_sub = secrets.add_subparsers(dest="secrets_command", required=True)
    s_list = s_sub.add_parser("list", parents=[common], help="list secrets of your scope")
    s_list.add_argument("--customer-org")
    s_list.set_defaults(func=secrets_list)
    value_opts = argparse.ArgumentParser(add_help=False)
    value_opts.add_argument("--value-file", help="read the value from this file (else stdin)")
    value_opts.add_argument(
        "--keep-newline", action="store_true", help="keep a trailing newline of the value"
    )
    s_create = s_sub.add_parser("create", parents=[common, value_opts], help="create a secret")
    s_create.add_argument("key")
    s_create.add_argument("--customer-org")
    s_create.set_defaults(func=secrets_create)
    s_update = s_sub.add_parser("update", parents=[common, value_opts], help="new value")
    s_update.add_argument("id")
    s_update.add_argument("--expected-version", type=int)
    s_update.set_defaults(func=secrets_update)
    s_delete = s_sub.add_parser("delete", parents=[common], help="delete a secret")
    s_delete.add_argument("id")
    s_delete.add_argument("--force", action="store_true", help="even if deployments use it")
    s_delete.set_defaults(func=secrets_delete)

    render = sub.add_parser("render", help="template tools")
    r_sub = render.add_subparsers(dest="render_command", required=True)
    validate = r_sub.add_parser(
        "validate", parents=[common], help="check .env / Helm values files; exit 1 on errors"
    )
    validate.add_argument("files", nargs="+")
    validate.add_argument("--customer-org")
    validate.set_defaults(func=render_validate)

    logs = sub.add_parser("logs", help="deployment logs")
    l_sub = logs.add_subparsers(dest="logs_command", required=True)
    tail = l_sub.add_parser("tail", parents=[common], help="follow redacted logs")
    tail.add_argument("deployment")
    tail.set_defaults(func=logs_tail)
