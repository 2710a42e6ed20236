"""Every endpoint x every role x vendor / customer / other organization, against a table."""

import uuid

import pytest

from tests.conftest import Record
from tests.integration.gateway.conftest import TokenFactory
from tests.integration.stack import Stack

ROLES = ("read_only", "read_write", "admin")


@pytest.mark.proof
async def test_role_scope_tenant_matrix(
    stack: Stack, auth: TokenFactory, unique: str, record_figure: Record
) -> None:
    org_a, org_b = f"ma-{unique}", f"mb-{unique}"
    owner = auth(org_a)
    targets = {}
    for name, customer in (("vendor", None), ("c1", "c1"), ("c2", "c2")):
        body = {"key": f"T_{name.upper()}", "value": f"value-{name}-{unique}"}
        if customer:
            body["customerOrganizationId"] = customer
        resp = await stack.http.post("/api/v1/secrets", headers=owner, json=body)
        assert resp.status_code == 201
        targets[name] = resp.json()["id"]
    callers = (
        {(f"A-vendor-{r}", org_a, None, r) for r in ROLES}
        | {(f"A-c1-{r}", org_a, "c1", r) for r in ROLES}
        | {(f"A-c2-{r}", org_a, "c2", r) for r in ROLES}
        | {(f"B-vendor-{r}", org_b, None, r) for r in ROLES}
        | {(f"B-c1-{r}", org_b, "c1", r) for r in ROLES}
    )
    visible = {
        ("A", None): {"vendor", "c1", "c2"},
        ("A", "c1"): {"c1"},
        ("A", "c2"): {"c2"},
        ("B", None): set(),
        ("B", "c1"): set(),
    }
    wrong: list[str] = []
    cells = 0

    def check(label: str, got: int, want: int) -> None:
        nonlocal cells
        cells += 1
        if got != want:
            wrong.append(f"{label}: got {got}, want {want}")

    for name, org, customer, role in sorted(callers, key=str):
        headers = auth(org, role=role, customer=customer, sub=name)
        tenant = "A" if org == org_a else "B"
        sees = visible[(tenant, customer)]
        writer = role != "read_only"
        listed = await stack.http.get("/api/v1/secrets", headers=headers)
        check(f"{name} list", listed.status_code, 200)
        keys = {i["id"] for i in listed.json().get("items", [])}
        if keys != {targets[t] for t in sees}:
            wrong.append(f"{name} list shows {len(keys)} secrets, want {len(sees)}")
        for target, secret_id in targets.items():
            path = f"/api/v1/secrets/{secret_id}"
            seen = target in sees
            check(
                f"{name} get {target}",
                (await stack.http.get(path, headers=headers)).status_code,
                200 if seen else 404,
            )
            put = await stack.http.put(path, headers=headers, json={"value": f"new-{uuid.uuid4()}"})
            check(
                f"{name} put {target}", put.status_code, (200 if writer else 403) if seen else 404
            )
            if not (seen and writer):
                deleted = await stack.http.delete(path, headers=headers)
                check(f"{name} delete {target}", deleted.status_code, 403 if seen else 404)
        created = await stack.http.post(
            "/api/v1/secrets",
            headers=headers,
            json={"key": f"NEW_{uuid.uuid4().hex[:8]}", "value": "fresh-value-1"},
        )
        check(f"{name} create", created.status_code, 201 if writer else 403)
        if created.status_code == 201:
            fresh = created.json()["id"]
            deleted = await stack.http.delete(f"/api/v1/secrets/{fresh}", headers=headers)
            check(f"{name} delete own new", deleted.status_code, 204)
        validated = await stack.http.post(
            "/api/v1/templates/validate", headers=headers, json={"envFile": "A=1\n"}
        )
        check(f"{name} validate", validated.status_code, 200)
        logs = await stack.http.get("/api/v1/deployments/matrix-app/logs", headers=headers)
        check(
            f"{name} logs of a vendor deployment",
            logs.status_code,
            200 if customer is None else 404,
        )
        logs = await stack.http.get("/api/v1/deployments/matrix-app/logs", headers=headers)
        check(
            f"{name} logs of a vendor deployment",
            logs.status_code,
            200 if customer is None else 404,
        )
        audit = await stack.http.get("/api/v1/audit", headers=headers)
        check(f"{name} audit", audit.status_code, 200 if role == "admin" else 403)
        other = await stack.http.post(
            "/api/v1/secrets",
            headers=headers,
            json={
                "key": f"X_{uuid.uuid4().hex[:8]}",
                "value": "v-other-1",
                "customerOrganizationId": "c1" if customer == "c2" else "c2",
            },
        )
        if customer is not None:
            check(f"{name} create for another customer", other.status_code, 403)
        elif writer:
            check(f"{name} create for a customer", other.status_code, 201)
            if other.status_code == 201:
                await stack.http.delete(f"/api/v1/secrets/{other.json()['id']}", headers=headers)
    record_figure("Cross-tenant matrix (HTTP)", "cells checked", cells)
    record_figure("Cross-tenant matrix (HTTP)", "cells wrong", len(wrong))
    assert cells >= 230
    assert not wrong, "\n".join(wrong)
