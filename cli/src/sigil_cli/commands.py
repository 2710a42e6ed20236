"""``sigil secrets``, ``sigil render validate``, ``sigil logs tail``, ``sigil audit``.

Plain functions called by the Typer wiring in ``main``; they raise CliError (or ApiError)
for every failure and return the exit status otherwise.
"""

import json
import re
from typing import Any

from sigil_cli.client import ApiClient, ApiError, token_claims
from sigil_cli.exitcodes import CliError, ExitCode
from sigil_cli.options import GlobalOptions
from sigil_cli.output import emit, out, table, warn
from sigil_cli.values import parse_env, read_stdin, read_text_file, read_value

SECRETS = "/api/v1/secrets"
#: Secret ids are uuid4 hex; a key of exactly this shape is still looked up as a key first.
_ID_RE = re.compile(r"[0-9a-f]{32}")

SECRET_COLUMNS = [
    ("key", "KEY"),
    ("customerOrganizationId", "CUSTOMER"),
    ("version", "VERSION"),
    ("updatedBy", "UPDATED BY"),
    ("updatedAt", "UPDATED AT"),
    ("id", "ID"),
]


def _api(opts: GlobalOptions) -> ApiClient:
    api = ApiClient(opts.url, opts.token)
    opts.resources.callback(api.close)
    return api


def _scope(api: ApiClient, customer_org: str | None) -> str | None:
    """The scope a key names: --customer-org, else a customer user's own, else vendor level."""
    if customer_org:
        return customer_org
    claimed = token_claims(api.token).get("customer_org")
    return claimed if isinstance(claimed, str) else None


def _warn_short(meta: dict[str, Any]) -> None:
    if meta.get("tooShortToMask"):
        warn(
            f"the value of {meta['key']} is shorter than the log redactor's minimum length: "
            "it cannot be masked in deployment logs; use a longer value"
        )


def find_secret(api: ApiClient, ref: str, customer_org: str | None) -> dict[str, Any]:
    """The metadata of the secret a key (in a scope) or an id names."""
    scope = _scope(api, customer_org)
    params = {"customerOrganizationId": scope} if scope else {"vendorOnly": "true"}
    for item in api.paged(SECRETS, params):
        if item["key"] == ref:
            return item
    if _ID_RE.fullmatch(ref):
        # Ids still work; the API answers 404 for one outside the caller's scope.
        found: dict[str, Any] = api.call("GET", f"{SECRETS}/{ref}")
        return found
    where = f"customer organization {scope}" if scope else "vendor level"
    message = f"no secret {ref} at {where}"
    if not scope:
        others = sorted(
            {
                str(item["customerOrganizationId"])
                for item in api.paged(SECRETS, {})
                if item["key"] == ref and item.get("customerOrganizationId")
            }
        )
        if others:
            message += f" (it exists for {', '.join(others)}: add --customer-org)"
    raise CliError(
        message,
        ExitCode.NOT_FOUND,
        payload={"error": {"code": "not_found", "message": message, "details": None}},
    )


#: Shell completion must answer quickly or not at all.
COMPLETION_TIMEOUT = 2.0


def complete_keys(
    url: str | None, token: str | None, customer_org: str | None, incomplete: str
) -> list[str]:
    """Keys of the scope for shell completion; nothing (never an error) when unreachable."""
    if not token:
        return []
    try:
        api = ApiClient(url, token, timeout=COMPLETION_TIMEOUT)
        try:
            scope = _scope(api, customer_org)
            params = {"customerOrganizationId": scope} if scope else {"vendorOnly": "true"}
            keys = [str(item["key"]) for item in api.paged(SECRETS, params)]
        finally:
            api.close()
    except CliError:
        return []
    return [key for key in keys if key.startswith(incomplete)]


def secrets_list(
    opts: GlobalOptions, *, customer_org: str | None, vendor_only: bool, as_json: bool
) -> int:
    """Metadata of the caller's scope."""
    params: dict[str, str] = {}
    if customer_org:
        params["customerOrganizationId"] = customer_org
    if vendor_only:
        params["vendorOnly"] = "true"
    items = _api(opts).paged(SECRETS, params)
    emit(as_json, items, table(items, SECRET_COLUMNS))
    return ExitCode.OK


def secrets_get(opts: GlobalOptions, ref: str, *, customer_org: str | None, as_json: bool) -> int:
    """Metadata and version history of one secret (never its value)."""
    api = _api(opts)
    detail = api.call("GET", f"{SECRETS}/{find_secret(api, ref, customer_org)['id']}")
    fields = [
        ("key", "key"),
        ("customerOrganizationId", "customer"),
        ("version", "version"),
        ("createdAt", "created at"),
        ("createdBy", "created by"),
        ("updatedAt", "updated at"),
        ("updatedBy", "updated by"),
        ("id", "id"),
    ]
    text = "\n".join(
        f"{label + ':':12} {'-' if detail.get(name) is None else detail[name]}"
        for name, label in fields
    )
    if detail.get("tooShortToMask"):
        text += "\nwarning:     too short to be masked in deployment logs"
    emit(as_json, detail, text)
    return ExitCode.OK


HISTORY_COLUMNS = [("version", "VERSION"), ("createdAt", "WRITTEN AT"), ("createdBy", "WRITTEN BY")]


def secrets_history(
    opts: GlobalOptions, ref: str, *, customer_org: str | None, as_json: bool
) -> int:
    """Who wrote each version and when, newest first."""
    api = _api(opts)
    detail = api.call("GET", f"{SECRETS}/{find_secret(api, ref, customer_org)['id']}")
    versions: list[dict[str, Any]] = detail.get("versions") or []
    emit(as_json, versions, table(versions, HISTORY_COLUMNS))
    return ExitCode.OK


def _create(api: ApiClient, key: str, value: str, customer_org: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"key": key, "value": value}
    if customer_org:
        body["customerOrganizationId"] = customer_org
    created: dict[str, Any] = api.call("POST", SECRETS, json=body)
    return created


def secrets_create(
    opts: GlobalOptions,
    key: str,
    *,
    customer_org: str | None,
    value_file: str | None,
    keep_newline: bool,
    as_json: bool,
) -> int:
    """Create a secret; the value comes from a file, stdin or a hidden prompt."""
    api = _api(opts)
    created = _create(
        api, key, read_value(key, value_file, keep_newline=keep_newline), customer_org
    )
    _warn_short(created)
    emit(as_json, created, f"created {created['key']} (version {created['version']})")
    return ExitCode.OK


def _affected_text(updated: dict[str, Any]) -> str:
    affected = updated.get("affectedDeployments") or []
    if not affected:
        return ""
    return "\nstill rendered with older values (redeploy to pick it up):\n" + "\n".join(
        f"  {a['deploymentId']} revision {a['revision']}" for a in affected
    )


def secrets_update(
    opts: GlobalOptions,
    ref: str,
    *,
    customer_org: str | None,
    value_file: str | None,
    keep_newline: bool,
    expected_version: int | None,
    as_json: bool,
) -> int:
    """Store a new value (version + 1) of the secret a key or id names."""
    api = _api(opts)
    # A named file is read first (a missing one is a usage error before any request); a
    # prompt or stdin only once the secret is known to exist.
    from_file = value_file is not None and value_file != "-"
    value = read_value(ref, value_file, keep_newline=keep_newline) if from_file else None
    meta = find_secret(api, ref, customer_org)
    if value is None:
        value = read_value(meta["key"], value_file, keep_newline=keep_newline)
    body: dict[str, Any] = {"value": value}
    if expected_version is not None:
        body["expectedVersion"] = expected_version
    updated: dict[str, Any] = api.call("PUT", f"{SECRETS}/{meta['id']}", json=body)
    _warn_short(updated)
    text = f"updated {updated['key']} to version {updated['version']}" + _affected_text(updated)
    emit(as_json, updated, text)
    return ExitCode.OK


def secrets_delete(
    opts: GlobalOptions, ref: str, *, customer_org: str | None, force: bool, as_json: bool
) -> int:
    """Delete; refused (exit 4) while a live deployment uses it, unless --force."""
    api = _api(opts)
    meta = find_secret(api, ref, customer_org)
    api.call("DELETE", f"{SECRETS}/{meta['id']}", params={"force": "true"} if force else {})
    result = {
        "deleted": meta["id"],
        "key": meta["key"],
        "customerOrganizationId": meta.get("customerOrganizationId"),
    }
    emit(as_json, result, f"deleted {meta['key']}")
    return ExitCode.OK


def secrets_import(
    opts: GlobalOptions, file: str, *, customer_org: str | None, as_json: bool
) -> int:
    """Create or update every key of an env file; values are never printed."""
    text = read_stdin(what="the env file") if file == "-" else read_text_file(file, what="file")
    entries = parse_env(text, source="<stdin>" if file == "-" else file)
    api = _api(opts)
    scope = _scope(api, customer_org)
    params = {"customerOrganizationId": scope} if scope else {"vendorOnly": "true"}
    existing = {item["key"]: item for item in api.paged(SECRETS, params)}
    results: list[dict[str, Any]] = []
    for entry in entries:
        try:
            if entry.key in existing:
                meta: dict[str, Any] = api.call(
                    "PUT", f"{SECRETS}/{existing[entry.key]['id']}", json={"value": entry.value}
                )
                action = "updated"
            else:
                meta = _create(api, entry.key, entry.value, customer_org)
                action = "created"
        except ApiError as err:
            done = f"{len(results)} of {len(entries)} imported before it"
            err.message = f"{file}:{entry.line}: {entry.key}: {err.message}; {done}"
            err.payload = {**(err.payload or {}), "imported": results}
            raise
        _warn_short(meta)
        results.append(
            {"key": entry.key, "action": action, "version": meta["version"], "id": meta["id"]}
        )
        if not as_json:
            out(f"{action} {entry.key} (version {meta['version']})")
    if as_json:
        out(json.dumps(results, indent=2))
    return ExitCode.OK


def _char_column(text: str, line: int, byte_column: int) -> int:
    """1-based character column from Go's 0-based byte offset within the line."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return byte_column + 1
    prefix = lines[line - 1].encode("utf-8", "surrogateescape")[:byte_column]
    return len(prefix.decode("utf-8", "ignore")) + 1


def _position(name: str, text: str, error: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``file:line:col`` (unknown parts omitted) and the error as the user's file names it."""
    line, column = error.get("line"), error.get("column")
    where = name
    if isinstance(line, int) and line > 0:
        where += f":{line}"
        if isinstance(column, int) and column >= 0:
            column = _char_column(text, line, column)
            where += f":{column}"
        else:
            column = None
    else:
        line = column = None
    return where, {**error, "file": name, "line": line, "column": column}


def render_validate(
    opts: GlobalOptions,
    files: list[str],
    *,
    customer_org: str | None,
    file_type: str,
    as_json: bool,
) -> int:
    """Check .env / Helm values files as a deployment of your scope; exit 1 on problems."""
    if files.count("-") > 1:
        msg = "'-' (stdin) can be given only once"
        raise CliError(msg, ExitCode.USAGE)
    # Read every file first: a missing one is a usage error before anything is sent.
    texts = {
        name: read_stdin(what="the template")
        if name == "-"
        else read_text_file(name, what="template file")
        for name in files
    }
    api = _api(opts)
    failed = False
    results = []
    for name, text in texts.items():
        kind = file_type
        if kind == "auto":
            kind = "yaml" if name.endswith((".yaml", ".yml")) else "env"
        body: dict[str, Any] = {"valuesYaml" if kind == "yaml" else "envFile": text}
        if customer_org:
            body["customerOrganizationId"] = customer_org
        result = api.call("POST", "/api/v1/templates/validate", json=body)
        shown = "<stdin>" if name == "-" else name
        errors = []
        for error in result.get("errors") or []:
            failed = True
            where, named = _position(shown, text, error)
            errors.append(named)
            if not as_json:
                out(f"{where}: {error['message']}")
        # The answer lists at most the first errors; the rest are only counted.
        omitted = result.get("errorsOmitted") or 0
        failed = failed or bool(omitted) or result.get("valid") is False
        if omitted and not as_json:
            out(f"{shown}: {omitted} more error(s) not listed")
        results.append({**result, "file": shown, "errors": errors})
    if as_json:
        out(json.dumps(results, indent=2))
    elif not failed:
        out(f"{len(files)} file(s) valid")
    return ExitCode.PROBLEMS if failed else ExitCode.OK


def logs_tail(opts: GlobalOptions, deployment: str, *, as_json: bool) -> int:
    """Follow a deployment's redacted log records until Ctrl-C."""
    try:
        for record in _api(opts).stream(f"/api/v1/deployments/{deployment}/logs/stream"):
            if as_json:
                out(json.dumps(record))
            else:
                out(f"{record['timestamp']} {record.get('severity') or ''} {record['body']}")
    except KeyboardInterrupt:
        return ExitCode.OK
    return ExitCode.OK


AUDIT_COLUMNS = [
    ("at", "AT"),
    ("actorId", "ACTOR"),
    ("action", "ACTION"),
    ("key", "KEY"),
    ("customerOrganizationId", "CUSTOMER"),
    ("version", "VERSION"),
    ("outcome", "OUTCOME"),
]


def audit_list(
    opts: GlobalOptions, *, filters: dict[str, str | None], limit: int, as_json: bool
) -> int:
    """Audit events of the caller's organization (admins)."""
    params = {name: value for name, value in filters.items() if value}
    items = _api(opts).paged("/api/v1/audit", params, limit=limit + 1)
    if len(items) > limit:  # never cut a listing silently
        items = items[:limit]
        warn(f"showing the first {limit} events; there are more (raise --limit)")
    emit(as_json, items, table(items, AUDIT_COLUMNS))
    return ExitCode.OK
