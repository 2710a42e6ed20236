"""Operating the gateway: Prometheus /metrics without leaking labels, rate limits per client."""

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest

from sigil_gateway.app import create_app
from tests.helpers import NatsFixture, free_port
from tests.integration.gateway.conftest import TokenFactory
from tests.integration.stack import Stack, running_stack, service_settings

CANARY = "canary-Metrics-3131-value"


@pytest.fixture
async def gateway(nats_server: NatsFixture) -> AsyncIterator[Stack]:
    """The gateway alone: these checks need no bus service."""
    async with running_stack(nats_server, services=()) as running:
        yield running


async def test_metrics_count_requests_by_route_template_without_ids_or_tokens(
    gateway: Stack, auth: TokenFactory, org: str
) -> None:
    await gateway.http.get("/healthz")
    await gateway.http.get(f"/no/such/{CANARY}")
    await gateway.http.get(f"/api/v1/secrets/{CANARY[:20]}", headers=auth(org))
    await gateway.http.get("/api/v1/secrets", headers={"Authorization": f"Bearer {CANARY}"})
    resp = await gateway.http.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    assert re.search(
        r'sigil_http_requests_total\{method="GET",route="/healthz",status="200"\} [1-9]', text
    )
    assert 'route="unmatched"' in text
    assert 'route="/api/v1/secrets/{secret_id}"' in text
    assert 'route="/api/v1/secrets",status="401"' in text
    assert "sigil_http_request_duration_seconds_bucket" in text
    assert CANARY not in text
    assert CANARY[:20] not in text
    assert org not in text
    assert "Bearer" not in text


async def test_unauthenticated_requests_are_limited_per_client_address(
    nats_server: NatsFixture, auth: TokenFactory, org: str
) -> None:
    # One request per 100 s (burst 1): no refill can land within the test, however slow.
    overrides = {"gateway": {"anonymous_rate_limit": 0.01, "rate_limit": 1000.0}}
    async with running_stack(nats_server, services=(), overrides=overrides) as limited:
        anonymous = [(await limited.http.get("/api/v1/secrets")).status_code for _ in range(3)] + [
            (
                await limited.http.get(
                    "/api/v1/secrets", headers={"Authorization": f"Bearer junk{n}"}
                )
            ).status_code
            for n in range(3)
        ]
        refused = await limited.http.get("/api/v1/secrets")
        # A valid token has its own (higher) budget, untouched by the address's.
        with_token = await limited.http.get("/api/v1/secrets/" + "0" * 32, headers=auth(org))
    assert anonymous == [401, 429, 429, 429, 429, 429]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert "client address" in refused.json()["error"]["message"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert with_token.status_code == 503  # no secrets service here: past the limiter


def test_a_bus_service_serves_its_metrics_for_scraping_when_asked() -> None:
    port = free_port()
    program = (
        "import sys, urllib.request\n"
        "from opentelemetry import metrics\n"
        "from sigil_shared.telemetry import configure_telemetry\n"
        "configure_telemetry('sigil-secrets')\n"
        "metrics.get_meter('sigil.bus').create_counter('sigil.commands').add(\n"
        "    1, {'subject': 'sigil.secrets.secret.list', 'outcome': 'ok'})\n"
        f"print(urllib.request.urlopen('http://127.0.0.1:{port}/metrics', timeout=10)"
        ".read().decode())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        env=dict(os.environ, SIGIL_METRICS_PORT=str(port)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(
        r'sigil_commands_total\{.*outcome="ok".*subject="sigil.secrets.secret.list".*\} 1',
        result.stdout,
    ), result.stdout[-2000:]


async def test_a_closed_bus_connection_is_503_unavailable(
    nats_server: NatsFixture, auth: TokenFactory, org: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(service_settings(nats_server, "gateway"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await app.state.broker.connection.close()
            resp = await client.get("/api/v1/secrets", headers=auth(org))
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "unavailable"
    assert "unexpected gateway failure" not in caplog.text
