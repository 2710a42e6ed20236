"""The web UI at ``/``: one page, its script and its stylesheet (no build step)."""

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)
_UI = resources.files("sigil_gateway.ui")
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@router.get("/")
async def index() -> HTMLResponse:
    """The single page."""
    return HTMLResponse(_UI.joinpath("index.html").read_text(encoding="utf-8"), headers=_HEADERS)


@router.get("/ui/{name}")
async def asset(name: str) -> Response:
    """app.js and app.css only."""
    types = {"app.js": "text/javascript", "app.css": "text/css"}
    if name not in types:
        return Response(status_code=404)
    return Response(
        _UI.joinpath(name).read_text(encoding="utf-8"), media_type=types[name], headers=_HEADERS
    )
