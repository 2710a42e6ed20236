"""A render on behalf of a customer user stays in that user's customer organization (real bus).

Another customer's deployment, or a vendor-internal one, is another tenant's thing: refused
as not found before anything is read or written (no value, no receipt), and the refusal is
audited. The actor's own customer and vendor users render as before.
"""

import asyncio

import pytest
from faststream.nats import NatsBroker

from sigil_shared import operations as ops
from sigil_shared.bus import request
from sigil_shared.contracts import Actor, TemplateRenderReply, TemplateRenderRequest
from sigil_shared.errors import ConflictError, NotFoundError
from tests.integration.bus_client import SecretsClient, actor

CANARY = "canary-Render-Scope-4471-value"
ENV = "K={{ .Secrets.K }}\n"


async def _render(
    platform: NatsBroker,
    org: str,
    who: Actor | None,
    customer: str | None,
    deployment: str,
    request_id: str,
    revision: int = 1,
) -> TemplateRenderReply:
    return await request(
        platform,
        ops.TEMPLATE_RENDER,
        TemplateRenderRequest(
            organization_id=org,
            customer_organization_id=customer,
            deployment_id=deployment,
            revision=revision,
            env_file=ENV,
            actor=who,
            request_id=request_id,
        ),
        timeout=10,
    )


async def test_customer_actor_renders_only_its_own_customers_deployments(
    client: SecretsClient, platform: NatsBroker, org: str
) -> None:
    admin = actor(org)
    await client.create(admin, "K", f"{CANARY}-vendor")
    await client.create(admin, "K", f"{CANARY}-custA", customer="custA")
    intruder = actor(org, role="admin", customer="custA2", user="u-custA2")

    refused: list[NotFoundError] = []
    for customer, deployment in (("custA", "shop"), (None, "internal")):
        with pytest.raises(NotFoundError) as info:
            await _render(platform, org, intruder, customer, deployment, f"intruder-{deployment}")
        refused.append(info.value)
    for err in refused:
        text = f"{err} {err.details}"
        assert CANARY not in text
        assert "custA" not in text.replace("custA2", "")  # names neither the owner nor its data
    # Same answer whether or not the deployment was ever rendered.
    assert str(refused[0]) == str(refused[1])

    # Nothing was written for the refused renders: the owner's first render of the same
    # revision creates its receipt, with its own value.
    owner = actor(org, role="read_only", customer="custA", user="u-custA")
    mine = await _render(platform, org, owner, "custA", "shop", "owner-shop")
    assert mine.reused_receipt is False
    assert mine.env_file is not None
    assert mine.env_file.get_secret_value() == f"K={CANARY}-custA\n"
    vendor = await _render(platform, org, admin, None, "internal", "vendor-internal")
    assert vendor.reused_receipt is False
    assert vendor.env_file is not None
    assert vendor.env_file.get_secret_value() == f"K={CANARY}-vendor\n"
    # A render the platform asks for without an actor is not a customer user's: unchanged.
    unattended = await _render(platform, org, None, "custA", "shop", "platform-shop")
    assert unattended.reused_receipt is True

    outcomes: dict[str, tuple[str, str | None]] = {}
    for _ in range(100):
        page = await client.audit(admin, action="template.render")
        outcomes = {e.request_id: (e.outcome.value, e.error_code) for e in page.items}
        if {"intruder-shop", "intruder-internal", "owner-shop"} <= outcomes.keys():
            break
        await asyncio.sleep(0.05)
    assert outcomes.get("intruder-shop") == ("failed", "not_found")
    assert outcomes.get("intruder-internal") == ("failed", "not_found")
    assert outcomes.get("owner-shop") == ("success", None)


async def test_a_new_revision_cannot_move_a_deployment_to_another_scope(
    client: SecretsClient, platform: NatsBroker, org: str
) -> None:
    """The red team's takeover: a customer renders revision 2 of another customer's (or a
    vendor-internal) deployment for its own customer organization, to read its logs and stop
    the owner's values from being masked. A deployment keeps the scope of its first render."""
    admin = actor(org)
    await client.create(admin, "K", f"{CANARY}-custB", customer="custB")
    await client.create(admin, "K", f"{CANARY}-custB2", customer="custB2")
    await client.create(admin, "K", f"{CANARY}-vendor")
    owner = actor(org, role="read_only", customer="custB", user="u-custB")
    intruder = actor(org, role="read_only", customer="custB2", user="u-custB2")
    await _render(platform, org, owner, "custB", "depR", "owner-r1")
    await _render(platform, org, admin, None, "depV", "vendor-v1")

    for deployment in ("depR", "depV"):
        with pytest.raises(NotFoundError) as info:
            await _render(platform, org, intruder, "custB2", deployment, "takeover", revision=2)
        assert "custB" not in str(info.value).replace("custB2", "")
        assert CANARY not in f"{info.value} {info.value.details}"
        # The platform itself (no actor) is told why, and cannot move it either.
        with pytest.raises(ConflictError):
            await _render(platform, org, None, "custB2", deployment, "moved", revision=3)

    # The owner's next revision renders as before, with its own value.
    again = await _render(platform, org, owner, "custB", "depR", "owner-r2", revision=2)
    assert again.env_file is not None
    assert again.env_file.get_secret_value() == f"K={CANARY}-custB\n"
    assert again.receipt.customer_organization_id == "custB"
