"""The validate path with fakes of the renderer's ports: key names only, audited, no value."""

from datetime import UTC, datetime

import pytest

from sigil_renderer.adapters.scope_keys import ValuelessScopeKeys
from sigil_renderer.service import RendererService
from sigil_shared.contracts import Actor, Role, TemplateValidateReply, TemplateValidateRequest
from sigil_shared.errors import ForbiddenError, UnavailableError
from tests.unit.renderer.test_render_service import (
    FakeAudit,
    FakeEvents,
    FakeReceipts,
    FakeSecrets,
)

ORG = "acme"
PROBE = (
    'A={{ if eq (slice .Secrets.K 0 1) "c" }}{{ .Secrets.NOPE }}{{ end }}\n'
    'B={{ printf "%x" .Secrets.K }}{{ range .Secrets.K }}{{ end }}\n'
)


class RecordingKeys:
    """A scope-key source that answers from a fixed key set and notes what it was asked."""

    def __init__(self, keys: set[str]) -> None:
        self.keys_in_scope = frozenset(keys)
        self.asked: list[set[str] | None] = []

    async def keys(self, org: str, customer: str | None, names: set[str] | None) -> frozenset[str]:
        del org, customer
        self.asked.append(names)
        return self.keys_in_scope if names is None else self.keys_in_scope & names


def _service(secrets: FakeSecrets, audit: FakeAudit, keys: object = None) -> RendererService:
    return RendererService(
        secrets=secrets,  # type: ignore[arg-type]
        receipts=FakeReceipts(),
        events=FakeEvents(),
        audit=audit,
        scope_keys=keys,  # type: ignore[arg-type]
        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
    )


def _request(text: str, role: Role = Role.READ_ONLY, **kwargs: object) -> TemplateValidateRequest:
    actor = Actor(user_id="u1", organization_id=ORG, role=role, **kwargs)
    return TemplateValidateRequest(actor=actor, request_id="r1", env_file=text)


async def _answer(value: str) -> TemplateValidateReply:
    secrets = FakeSecrets()
    secrets.put("K", value)
    return await _service(secrets, FakeAudit()).validate(_request(PROBE))


async def test_answer_does_not_depend_on_the_value() -> None:
    first = await _answer("canary-Unit-7781-value")
    assert await _answer("x\nimage: other #canary-2") == first
    assert "canary" not in first.model_dump_json()
    assert first.missing == ["NOPE"]


async def test_validation_asks_only_for_the_key_names_it_needs() -> None:
    keys = RecordingKeys({"K", "OTHER"})
    service = _service(FakeSecrets(), FakeAudit(), keys)
    reply = await service.validate(_request(PROBE))
    assert keys.asked == [{"K", "NOPE"}]
    assert reply.references == ["K", "NOPE"]
    # A text that uses .Secrets without naming the key needs every key of the scope.
    await service.validate(_request('{{ template "t" .Secrets }}{{ define "t" }}{{ .K }}{{ end }}'))
    assert keys.asked[-1] is None


async def test_values_stop_at_the_adapter() -> None:
    secrets = FakeSecrets()
    secrets.put("K", "canary-Unit-7781-value")
    keys = await ValuelessScopeKeys(secrets).keys(ORG, None, {"K", "NOPE"})
    assert keys == frozenset({"K"})


async def test_every_validation_is_audited_before_the_answer() -> None:
    audit = FakeAudit()
    secrets = FakeSecrets()
    secrets.put("K", "canary-Unit-7781-value")
    service = _service(secrets, audit)
    await service.validate(_request(PROBE))
    [event] = audit.events
    assert (event.action, event.outcome, event.actor.role) == (
        "template.validate",
        "success",
        Role.READ_ONLY,
    )
    assert [(k.key, k.version) for k in event.keys] == [("K", None), ("NOPE", None)]
    assert "canary" not in event.model_dump_json()
    with pytest.raises(ForbiddenError):
        await service.validate(
            _request(PROBE, customer_organization_id="c1").model_copy(
                update={"customer_organization_id": "c2"}
            )
        )
    assert (audit.events[-1].outcome, audit.events[-1].keys) == ("forbidden", [])
    audit.fail = True
    with pytest.raises(UnavailableError):
        await service.validate(_request(PROBE))
