"""The API description: OpenAPI with the real limits and bearer auth, Swagger UI served offline."""

import importlib.util
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from sigil_shared.ids import KEY_MAX_LENGTH, KEY_PATTERN, VALUE_MAX_BYTES

SECURITY_SCHEME = "bearerAuth"
_ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
_STREAM_PATH = "/api/v1/deployments/{deployment_id}/logs/stream"
_REQUEST_ID = {
    "name": "X-Request-Id",
    "in": "header",
    "required": False,
    "description": "Your id for this request (printable, at most 128 characters); it is "
    "recorded in the audit trail. A new one is made when absent.",
    "schema": {"type": "string", "maxLength": 128},
}

# Swagger UI from the swagger-ui-py wheel's static folder: no CDN, so the page works on an
# air-gapped install. Only the page and the two assets it loads are served.
_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Sigil API</title>
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script>
</body>
</html>
"""
_INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: false,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
});
"""


def swagger_assets() -> Path:
    """The folder of Swagger UI's built files inside the installed ``swagger_ui`` package."""
    # find_spec locates the package without importing it (its import pulls in Jinja).
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        msg = "the swagger-ui-py package is not installed"
        raise RuntimeError(msg)
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def _string(schemas: dict[str, Any], model: str, field: str, **facts: Any) -> None:
    prop = schemas.get(model, {}).get("properties", {}).get(field)
    if prop is None:
        return
    # A nullable field is anyOf [string, null]: the facts belong on the string branch.
    target = next((alt for alt in prop.get("anyOf", []) if alt.get("type") == "string"), prop)
    target.update(facts)


def describe(app: FastAPI) -> dict[str, Any]:
    """OpenAPI of the app, with what the generated schema cannot know.

    The wire contracts accept more than the service allows so that the service can answer
    with its specific codes (``invalid_key``, ``value_too_large``); clients should see the
    rules themselves. Generated once.
    """
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Claims sub, org, role (read_only, read_write, admin), optional "
        "customer_org; `sigil token` prints one for the embedded stack.",
    }
    for path, operations in schema.get("paths", {}).items():
        if path.startswith("/api/"):
            for operation in operations.values():
                operation["security"] = [{SECURITY_SCHEME: []}]
                # Read by the route's one dependency, not a declared parameter: say so here.
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name", "").lower() == "x-request-id" for p in parameters):
                    parameters.append(_REQUEST_ID)
    schemas = components.get("schemas", {})
    key_facts = {
        "minLength": 1,
        "maxLength": KEY_MAX_LENGTH,
        "pattern": KEY_PATTERN,
        "description": "ASCII letter, then ASCII letters, digits or underscores; "
        "case-sensitive; immutable after creation.",
    }
    value_facts = {
        "minLength": 1,
        "maxLength": VALUE_MAX_BYTES,
        "description": f"Write-only. Non-empty UTF-8, at most {VALUE_MAX_BYTES // 1024} KiB "
        "(422 value_too_large above); never returned by any read.",
    }
    for name in list(schemas):
        if name.startswith("SecretCreateBody"):
            _string(schemas, name, "key", **key_facts)
        if name.startswith(("SecretCreateBody", "SecretUpdateBody")):
            _string(schemas, name, "value", **value_facts)
    stream = schema.get("paths", {}).get(_STREAM_PATH, {}).get("get")
    if stream is not None:
        stream.setdefault("responses", {})["200"] = {
            "description": "Server-sent events: one `data:` line of a redacted LogRecord "
            "(JSON) per event; comment lines keep the connection alive.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    app.openapi_schema = schema
    return schema


def install_docs(app: FastAPI) -> None:
    """``/openapi.json`` and ``/docs`` (Swagger UI with its assets served from this process)."""
    folder = swagger_assets()
    init = _INIT.encode()

    async def openapi() -> JSONResponse:
        return JSONResponse(describe(app))

    async def page() -> HTMLResponse:
        return HTMLResponse(_PAGE)

    async def init_script() -> Response:
        return Response(init, media_type="text/javascript")

    async def asset(name: str) -> Response:
        if name not in _ASSETS:
            return JSONResponse(
                {"error": {"code": "not_found", "message": "no such asset", "details": {}}},
                status_code=404,
            )
        return FileResponse(folder / name)

    app.add_api_route("/openapi.json", openapi, include_in_schema=False)
    app.add_api_route("/docs", page, include_in_schema=False)
    app.add_api_route("/docs/assets/init.js", init_script, include_in_schema=False)
    app.add_api_route("/docs/assets/{name}", asset, include_in_schema=False)
