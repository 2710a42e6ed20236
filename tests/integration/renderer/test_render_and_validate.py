"""Render, validate, receipts and impact over a real nats-server."""

import asyncio
import json

import pytest
from faststream.nats import NatsBroker
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from sigil_shared import operations as ops
from sigil_shared import subjects
from sigil_shared.bus import request
from sigil_shared.contracts import (
    TemplateRenderReply,
    TemplateRenderRequest,
    TemplateValidateReply,
    TemplateValidateRequest,
)
from sigil_shared.errors import ConflictError, ForbiddenError, InvalidRequestError
from tests.integration.bus_client import SecretsClient, actor

CANARY = "canary-Render-5150-secret"


async def _render(platform: NatsBroker, org: str, **kwargs: object) -> TemplateRenderReply:
    return await request(
        platform,
        ops.TEMPLATE_RENDER,
        TemplateRenderRequest(organization_id=org, **kwargs),  # type: ignore[arg-type]
        timeout=10,
    )


async def _validate(client: SecretsClient, who: object, **kwargs: object) -> TemplateValidateReply:
    return await client.call(
        subjects.TEMPLATE_VALIDATE,
        TemplateValidateRequest(actor=who, request_id="v1", **kwargs),  # type: ignore[arg-type]
        TemplateValidateReply,
    )


async def test_customer_deployment_gets_vendor_and_customer_values(
    client: SecretsClient, platform: NatsBroker, org: str
) -> None:
    admin = actor(org)
    await client.create(admin, "SHARED", "vendor-value")
    await client.create(admin, "SHARED", "customer-value", customer="c1")
    await client.create(admin, "ONLY_VENDOR", "vendor-only")
    env = "A={{ .Secrets.SHARED }}\nB={{ .Secrets.ONLY_VENDOR }}\n"
    customer = await _render(
        platform, org, customer_organization_id="c1", deployment_id="d1", revision=1, env_file=env
    )
    assert customer.env_file is not None
    assert customer.env_file.get_secret_value() == "A=customer-value\nB=vendor-only\n"
    vendor = await _render(platform, org, deployment_id="d2", revision=1, env_file=env)
    assert vendor.env_file is not None
    assert vendor.env_file.get_secret_value() == "A=vendor-value\nB=vendor-only\n"
    entries = {(e.key, e.customer_organization_id, e.version) for e in customer.receipt.secrets}
    assert entries == {("SHARED", "c1", 1), ("ONLY_VENDOR", None, 1)}
    assert "customer-value" not in customer.receipt.model_dump_json()


async def test_existing_revision_keeps_old_value_until_redeployed(
    client: SecretsClient, platform: NatsBroker, platform_nc: NatsClient, org: str
) -> None:
    events: list[Msg] = []

    async def on_event(msg: Msg) -> None:
        events.append(msg)

    sub = await platform_nc.subscribe(subjects.receipt_event(org), cb=on_event)
    admin = actor(org)
    meta = await client.create(admin, "DB_PASSWORD", "old-password")
    env = "PW={{ .Secrets.DB_PASSWORD }}\n"
    first = await _render(platform, org, deployment_id="web", revision=1, env_file=env)
    assert first.reused_receipt is False
    updated = await client.update(admin, meta.id, "new-password")
    assert [(a.deployment_id, a.revision) for a in updated.affected_deployments or []] == [
        ("web", 1)
    ]
    again = await _render(platform, org, deployment_id="web", revision=1, env_file=env)
    assert again.reused_receipt is True
    assert again.env_file is not None
    assert again.env_file.get_secret_value() == "PW=old-password\n"
    redeployed = await _render(platform, org, deployment_id="web", revision=2, env_file=env)
    assert redeployed.env_file is not None
    assert redeployed.env_file.get_secret_value() == "PW=new-password\n"
    await platform_nc.flush()
    for _ in range(50):
        if len(events) >= 2:
            break
        await asyncio.sleep(0.02)
    await sub.unsubscribe()
    bodies = [json.loads(m.data) for m in events]
    assert [b["receipt"]["revision"] for b in bodies] == [1, 2]
    assert "password" not in json.dumps(bodies).replace("DB_PASSWORD", "")


async def test_delete_of_a_secret_in_use_is_refused_unless_forced(
    client: SecretsClient, platform: NatsBroker, org: str
) -> None:
    admin = actor(org)
    meta = await client.create(admin, "TOKEN", "tok-value")
    await _render(platform, org, deployment_id="api", revision=3, env_file="T={{ .Secrets.TOKEN }}")
    with pytest.raises(ConflictError) as info:
        await client.delete(admin, meta.id)
    assert info.value.details["affectedDeployments"] == [
        {"deploymentId": "api", "revision": 3, "version": 1}
    ]
    assert (await client.get(admin, meta.id)).key == "TOKEN"
    forced = await client.delete(admin, meta.id, force=True)
    assert [a.deployment_id for a in forced.affected_deployments] == ["api"]


async def test_validate_reports_errors_references_and_missing_without_values(
    client: SecretsClient, org: str
) -> None:
    admin = actor(org)
    await client.create(admin, "API_KEY", CANARY)
    env = (
        "API_KEY={{ .Secrets.API_KEY }}\n"
        "URL={{ if .Secrets.API_URL }}{{ .Secrets.API_URL }}{{ else }}https://x{{ end }}\n"
        "DB={{ .Secrets.DB_PASSWORD }}\n"
        "OTHER={{ .Secrets.OTHER }}\n"
    )
    reply = await _validate(client, admin, env_file=env, values_yaml="a: {{ .Secrets.X }")
    assert reply.valid is False
    assert reply.references == ["API_KEY", "API_URL", "DB_PASSWORD", "OTHER"]
    assert reply.missing == ["DB_PASSWORD", "OTHER"]
    env_errors = [
        (e.file, e.phase, e.line, e.column, e.key) for e in reply.errors if e.file == "envFile"
    ]
    assert env_errors == [
        ("envFile", "exec", 3, 14, "DB_PASSWORD"),
        ("envFile", "exec", 4, 17, "OTHER"),
    ]
    yaml_error = next(e for e in reply.errors if e.file == "valuesYaml")
    assert yaml_error.message == (
        'template parsing error: template: valuesYaml:1: unexpected "}" in operand'
    )
    assert CANARY not in reply.model_dump_json()


async def test_structure_lint_names_where_references_sit_and_render_names_the_secret(
    client: SecretsClient, platform: NatsBroker, org: str
) -> None:
    admin = actor(org)
    await client.create(admin, "PEM", "-----BEGIN-----\nAAAA\n-----END-----")
    await client.create(admin, "COLON", "user: root")
    await client.create(admin, "PLAIN", "plain-value")
    values = (
        "db:\n  cert: {{ .Secrets.PEM }}\n  user: {{ .Secrets.COLON }}\n"
        "  pw: {{ .Secrets.PLAIN }}\n"
    )
    # Validation cannot see values: it names every unquoted reference, with the fix.
    reply = await _validate(client, admin, values_yaml=values, env_file="P={{ .Secrets.PEM }}\n")
    issues = sorted((e.file, e.key, e.line) for e in reply.errors if e.phase == "structure")
    assert issues == [
        ("valuesYaml", "COLON", 3),
        ("valuesYaml", "PEM", 2),
        ("valuesYaml", "PLAIN", 4),
    ]
    assert all('printf "%q"' in e.message for e in reply.errors)
    assert "AAAA" not in reply.model_dump_json()
    quoted = await _validate(
        client,
        admin,
        values_yaml=(
            'cert: {{ .Secrets.PEM | printf "%q" }}\nuser: {{ .Secrets.COLON | printf "%q" }}\n'
        ),
    )
    assert quoted.valid, quoted.errors
    # Rendering sees the values: exactly the two that would not read back are named.
    with pytest.raises(InvalidRequestError) as info:
        await _render(platform, org, deployment_id="x", revision=1, values_yaml=values)
    named = sorted({e["key"] for e in info.value.details["errors"]})
    assert named == ["COLON", "PEM"]
    assert "AAAA" not in json.dumps([info.value.message, info.value.details])
    assert "root" not in json.dumps([info.value.message, info.value.details])


async def test_go_error_text_never_carries_a_value(client: SecretsClient, org: str) -> None:
    await client.create(actor(org), "SECRET", CANARY)
    reply = await _validate(client, actor(org), env_file="{{ range .Secrets.SECRET }}{{ end }}")
    # Validation runs on stand-ins, so Go's text can only quote a stand-in.
    assert reply.errors[0].message.endswith("range can't iterate over sigil-stand-in-SECRET-")
    assert CANARY not in reply.model_dump_json()


async def test_validation_scope_follows_the_caller(client: SecretsClient, org: str) -> None:
    admin = actor(org)
    await client.create(admin, "ONLY_C1", "c1-value", customer="c1")
    env = "X={{ .Secrets.ONLY_C1 }}"
    assert (await _validate(client, admin, env_file=env)).missing == ["ONLY_C1"]
    assert (await _validate(client, admin, env_file=env, customer_organization_id="c1")).valid
    assert (
        await _validate(client, actor(org, role="read_only", customer="c1"), env_file=env)
    ).valid
    assert (await _validate(client, actor(org, customer="c2"), env_file=env)).missing == ["ONLY_C1"]
    with pytest.raises(ForbiddenError):
        await _validate(
            client, actor(org, customer="c2"), env_file=env, customer_organization_id="c1"
        )
    with pytest.raises(InvalidRequestError):
        await _validate(client, admin)


#: The red team's repros (F1) and a split across two files: Go's text on real values would
#: quote a slice, the hex, or pieces of the value.
_TRANSFORMS = {
    "envFile": [
        "{{ range (slice .Secrets.LONGR 0 9) }}{{ end }}",
        '{{ range (printf "%x" .Secrets.LONGR) }}{{ end }}',
        '{{ range (printf "%.3s|%s" .Secrets.LONGR (slice .Secrets.LONGR 3)) }}{{ end }}',
    ],
    "valuesYaml": ["a: {{ range (slice .Secrets.LONGR 9) }}{{ end }}\n"],
}


def _value_forms(value: str) -> set[str]:
    raw = value.encode()
    forms = {value[i : i + 4] for i in range(len(value) - 3)}
    forms |= {raw[i : i + 4].hex() for i in range(len(raw) - 3)}
    return forms


async def test_render_error_reply_carries_no_form_of_the_value(
    client: SecretsClient, platform_nc: NatsClient, org: str
) -> None:
    value = "Zr8-loooong-canary"
    await client.create(actor(org), "LONGR", value)
    for n, env in enumerate(_TRANSFORMS["envFile"]):
        body = {
            "organizationId": org,
            "deploymentId": "shX",
            "revision": n + 1,
            "envFile": env,
            "valuesYaml": _TRANSFORMS["valuesYaml"][0],
        }
        reply = await platform_nc.request(
            subjects.TEMPLATE_RENDER, json.dumps(body).encode(), timeout=10
        )
        text = reply.data.decode()
        errors = json.loads(text)["error"]["details"]["errors"]
        assert [(e["file"], e["phase"], e["line"]) for e in errors] == [
            ("envFile", "exec", 1),
            ("valuesYaml", "exec", 1),
        ]
        assert all(e["column"] is not None for e in errors)
        leaked = sorted(f for f in _value_forms(value) if f in text)
        assert not leaked, (leaked, text)
        # Go's text on stand-ins: what value-blind validation says for the same text.
        blind = await _validate(client, actor(org), env_file=env)
        assert errors[0]["message"] == blind.errors[0].message
        assert "can't iterate over" in errors[0]["message"]


async def test_int_tag_next_to_a_secret_that_is_not_an_int_is_refused_naming_it(
    client: SecretsClient, platform: NatsBroker, org: str
) -> None:
    await client.create(actor(org), "API_KEY", CANARY)
    await client.create(actor(org), "PORT", "8080")
    with pytest.raises(InvalidRequestError) as info:
        await _render(
            platform,
            org,
            deployment_id="t",
            revision=1,
            values_yaml="a: !!int {{ .Secrets.API_KEY }}\n",
        )
    (error,) = info.value.details["errors"]
    assert (error["key"], error["line"], error["phase"]) == ("API_KEY", 1, "structure")
    assert "!!int" in error["message"]
    assert CANARY not in json.dumps([info.value.message, info.value.details])
    port = await _render(
        platform,
        org,
        deployment_id="t",
        revision=2,
        values_yaml="port: !!int {{ .Secrets.PORT }}\n",
    )
    assert port.values_yaml is not None
    assert port.values_yaml.get_secret_value() == "port: !!int 8080\n"
