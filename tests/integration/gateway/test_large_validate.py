"""Red-team finding N2 over HTTP: a read-only user validating a ~1 MiB env file of 990
references to missing 1,000-character keys gets a bounded 200 answer in well under the bus
timeout, again and again — before, each call was 503 after 5 s (the renderer's ~7 MB reply
exceeded NATS's max_payload and was never sent) — and the audit API still answers."""

import json
import time

from bench.oversized_validate_bench import template
from tests.integration.gateway.conftest import TokenFactory
from tests.integration.stack import Stack

CANARY = "canary-LargeValidate-6120-value"


async def test_huge_validations_answer_bounded_and_audit_still_pages(
    stack: Stack, auth: TokenFactory, org: str
) -> None:
    admin = auth(org)
    created = await stack.http.post(
        "/api/v1/secrets", headers=admin, json={"key": "K000001", "value": CANARY}
    )
    assert created.status_code == 201, created.text
    text = template(990, size=1_000_000)
    body = json.dumps({"envFile": text})
    assert len(body.encode()) < 1024 * 1024  # under the HTTP body limit
    reader = auth(org, role="read_only", sub="reader")
    for _ in range(3):
        start = time.monotonic()
        resp = await stack.http.post(
            "/api/v1/templates/validate",
            headers={**reader, "Content-Type": "application/json"},
            content=body,
        )
        assert resp.status_code == 200, resp.text[:300]
        assert time.monotonic() - start < 4.0
        assert len(resp.content) < 1024 * 1024
        answer = resp.json()
        assert answer["valid"] is False
        assert len(answer["errors"]) == 100
        assert answer["errorsOmitted"] == 890
        assert len(answer["missing"]) + answer["missingOmitted"] == 990
        assert CANARY not in resp.text
    audit = await stack.http.get("/api/v1/audit", headers=admin)
    assert audit.status_code == 200, audit.text[:300]
    assert CANARY not in audit.text
