"""The gateway's hot path: no thread-pool hop, no tracing middleware while tracing is off."""

import inspect
from typing import Any

from fastapi.routing import APIRoute
from starlette.middleware.base import BaseHTTPMiddleware

from sigil_gateway.app import create_app
from sigil_gateway.middleware import TracingMiddleware
from sigil_gateway.routes import audit, health, logs, secrets, templates, ui
from sigil_shared.settings import GatewaySettings


def _app() -> Any:
    # Building the app connects nothing: the broker starts in the lifespan.
    return create_app(GatewaySettings(jwt_key="unit-test-key-0123456789abcdef0123456789"))


def _calls(dependant: Any) -> list[Any]:
    found = [dependant.call] if dependant.call is not None else []
    for sub in dependant.dependencies:
        found += _calls(sub)
    return found


def _is_async(call: Any) -> bool:
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(
        getattr(call, "__call__", None)  # noqa: B004 - a dependency class's own __call__
    )


def test_every_route_and_dependency_is_async() -> None:
    # FastAPI runs a plain ``def`` endpoint or dependency in a thread pool, per request.
    routers = (audit, health, logs, secrets, templates, ui)
    included = [r for module in routers for r in module.router.routes]
    routes = [r for r in [*_app().routes, *included] if isinstance(r, APIRoute)]
    assert len(routes) >= 16
    for route in routes:
        for call in _calls(route.dependant):
            assert _is_async(call), f"{route.path}: {getattr(call, '__name__', call)} is sync"


def test_no_tracing_or_base_http_middleware_while_tracing_is_off() -> None:
    classes = [m.cls for m in _app().user_middleware]
    assert TracingMiddleware not in classes
    assert not any(isinstance(c, type) and issubclass(c, BaseHTTPMiddleware) for c in classes), (
        classes
    )
