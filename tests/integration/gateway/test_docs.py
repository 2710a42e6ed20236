"""API docs: Swagger UI works with the network blocked; OpenAPI states auth, limits and SSE."""

import shutil
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from sigil_gateway.app import create_app
from sigil_shared.ids import KEY_MAX_LENGTH, KEY_PATTERN, VALUE_MAX_BYTES
from tests.helpers import NatsFixture, free_port
from tests.integration.stack import Stack, running_stack, service_settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def gateway(nats_server: NatsFixture) -> AsyncIterator[Stack]:
    """The gateway alone: the docs need no bus service."""
    async with running_stack(nats_server, services=()) as running:
        yield running


@pytest.fixture
def served_gateway(nats_server: NatsFixture) -> Iterator[str]:
    """The gateway alone on a real loopback socket (uvicorn in a thread)."""
    port = free_port()
    app = create_app(service_settings(nats_server, "gateway"))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the gateway stopped during start-up"
        assert time.monotonic() < deadline, "the gateway did not start within 30 s"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.mark.slow
def test_docs_load_offline_in_chromium_and_list_the_operations(served_gateway: str) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make test installs it as root)")
    from playwright.sync_api import Route, expect, sync_playwright

    outside: list[str] = []

    def only_the_gateway(route: Route) -> None:
        # The network is blocked: anything not served by the gateway itself is refused
        # and remembered (a CDN asset would show up here).
        if route.request.url.startswith(served_gateway + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", only_the_gateway)
            page.goto(served_gateway + "/docs")
            expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)
            summaries = page.locator(".opblock-summary-path").all_inner_texts()
            joined = " ".join(summaries)
            for path in ("/api/v1/secrets", "/api/v1/templates/validate", "/api/v1/audit"):
                assert path in joined
            assert len(summaries) >= 9
            expect(page.get_by_role("button", name="Authorize")).to_be_visible()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "api-docs-offline.png"), full_page=False)
        finally:
            browser.close()
    assert outside == []


async def test_docs_assets_come_from_the_gateway(gateway: Stack) -> None:
    page = await gateway.http.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    assert "https://" not in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "init.js"):
        resp = await gateway.http.get(f"/docs/assets/{asset}")
        assert resp.status_code == 200, asset
        assert len(resp.content) > 100
    assert (await gateway.http.get("/docs/assets/..%2Fsecret")).status_code == 404
    assert (await gateway.http.get("/docs/assets/LICENSE")).status_code == 404


async def test_openapi_declares_bearer_auth_real_limits_and_event_stream(gateway: Stack) -> None:
    spec = (await gateway.http.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            if path.startswith("/api/"):
                assert operation["security"] == [{"bearerAuth": []}], path
            else:
                assert "security" not in operation, path
    schemas = spec["components"]["schemas"]
    create = next(v for k, v in schemas.items() if k.startswith("SecretCreateBody"))
    assert create["properties"]["key"]["maxLength"] == KEY_MAX_LENGTH == 256
    assert create["properties"]["key"]["pattern"] == KEY_PATTERN == r"^[A-Za-z][A-Za-z0-9_]*$"
    assert create["properties"]["value"]["maxLength"] == VALUE_MAX_BYTES == 64 * 1024
    update = next(v for k, v in schemas.items() if k.startswith("SecretUpdateBody"))
    assert update["properties"]["value"]["maxLength"] == VALUE_MAX_BYTES
    stream = spec["paths"]["/api/v1/deployments/{deployment_id}/logs/stream"]["get"]
    assert list(stream["responses"]["200"]["content"]) == ["text/event-stream"]
    assert "/docs" not in spec["paths"]
    assert "/metrics" not in spec["paths"]


async def test_docs_page_is_reachable_over_a_real_socket(served_gateway: str) -> None:
    async with httpx.AsyncClient(base_url=served_gateway) as client:
        assert (await client.get("/docs")).status_code == 200
        assert (await client.get("/openapi.json")).json()["openapi"].startswith("3.")
