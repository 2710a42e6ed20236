"""Validation is value-blind, over HTTP on a real stack: a fixed set of probe templates asked
as vendor read_only, vendor admin and customer read_only gives byte-identical answers
whatever the values are, never shows a value, and every validation is audited."""

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from sigil_cli.tokens import issue_token
from tests.helpers import NatsFixture
from tests.integration.stack import Stack, running_stack

# Each probe once leaked a bit of the value (an oracle on eq/lt/len/slice/index/printf, Go's
# error text) or judged structure with the value; now none may depend on it.
PROBES: list[dict[str, str]] = [
    {"envFile": 'X={{ if eq (slice .Secrets.K 0 1) "a" }}{{ .Secrets.NOPE }}{{ end }}\n'},
    {"envFile": 'X={{ if lt .Secrets.K "m" }}{{ .Secrets.NOPE }}{{ else }}y{{ end }}\n'},
    {"envFile": "X={{ if eq (len .Secrets.K) 15 }}{{ .Secrets.NOPE }}{{ end }}\n"},
    {"envFile": "X={{ if eq (index .Secrets.K 0) 97 }}{{ .Secrets.NOPE }}{{ end }}\n"},
    {"envFile": 'X={{ if eq (printf "%.1s" .Secrets.K) "a" }}{{ .Secrets.NOPE }}{{ end }}\n'},
    {"envFile": 'A={{ range (printf "%x" .Secrets.K) }}{{ end }}\n'},
    {"envFile": 'A={{ printf "%d|%v|%q" .Secrets.K .Secrets.K .Secrets.K }}\n'},
    {"envFile": "A={{ slice .Secrets.K 3 }}\nB={{ index .Secrets.K 40 }}\n"},
    {"envFile": "A={{ range .Secrets.K }}{{ end }}\n"},
    {"envFile": "A={{ .Secrets.K.Field }}\n"},
    {"envFile": '{{ with .Secrets.K }}{{ if eq . "abc" }}{{ .Secrets.NOPE }}{{ end }}{{ end }}'},
    {"envFile": '{{ template "t" .Secrets }}{{ define "t" }}A={{ .K }}\nB={{ .NOPE }}{{ end }}'},
    {
        "envFile": (
            '{{ if hasPrefix .Secrets.K "a" }}x{{ end }}'  # not a function: a parse error
        )
    },
    {
        "valuesYaml": (
            '{{ if eq .Secrets.K "abc-Canary-7781" }}a: {{ .Secrets.K }}\n'
            '{{ else }}a: "{{ .Secrets.K }}"\n{{ end }}b: {{ .Secrets.K | printf "%q" }}\n'
        )
    },
    {
        "valuesYaml": (
            "db:\n  {{ if .Secrets.K }}password: {{ .Secrets.K }}{{ end }}\n"
            "  {{ .Secrets.K }}: x\n  cert: |\n    {{ .Secrets.K }}\n"
        ),
        "envFile": (
            "{{ if .Secrets.K }}P={{ .Secrets.K }}\nQ='{{ .Secrets.K }}'\n"
            'R="{{ .Secrets.K }}"\n{{ end }}{{ .Secrets.K }}=1\n'
        ),
    },
    {"valuesYaml": "a: {{ .Secrets.K | js }} {{ .Secrets.K | html }} {{ urlquery .Secrets.K }}\n"},
    {"valuesYaml": "a: b: c\n{{ .Secrets.K }}"},
    {
        "envFile": (
            "A={{ .Secrets.KC }}\nB={{ if .Secrets.OPTIONAL }}{{ .Secrets.OPTIONAL }}{{ end }}"
        )
    },
]
# Other lengths, other characters, a newline and ": ".
VALUES = [
    "abc-Canary-7781",
    "zZ9!#:\"'\\ weird Canary-9132 much longer value",
    "x\nimage: evil/registry:latest #Canary-5521",
]


@pytest.fixture
async def stack(nats_server: NatsFixture) -> AsyncIterator[Stack]:
    async with running_stack(nats_server, services=("secrets", "renderer")) as running:
        yield running


@pytest.fixture
def org(unique: str) -> str:
    return f"vorg-{unique}"


def _auth(nats: NatsFixture, org: str, role: str, customer: str | None = None) -> dict[str, str]:
    key = nats.data.jwt_key_file.read_text().strip()
    token = issue_token(key, org=org, role=role, customer_org=customer, sub=f"u-{role}")
    return {"Authorization": f"Bearer {token}"}


def _leaks(text: str, value: str) -> list[str]:
    """Pieces of ``value`` (or of its common transformations) found in ``text``."""
    forms = {value, value.encode().hex(), json.dumps(value)[1:-1]}
    forms |= {line for line in value.splitlines() if len(line) >= 6}
    forms |= {part for part in value.split() if len(part) >= 6}
    return [form for form in forms if form and form in text]


async def _ask_all(http: httpx.AsyncClient, who: list[dict[str, str]]) -> list[bytes]:
    answers = []
    for headers in who:
        for body in PROBES:
            resp = await http.post("/api/v1/templates/validate", headers=headers, json=body)
            assert resp.status_code == 200, resp.text
            answers.append(resp.content)
    return answers


async def test_validate_answers_do_not_depend_on_values(
    stack: Stack, nats_server: NatsFixture, org: str
) -> None:
    admin = _auth(nats_server, org, "admin")
    who = [
        _auth(nats_server, org, "read_only"),
        admin,
        _auth(nats_server, org, "read_only", customer="c1"),
    ]
    ids = []
    for body in (
        {"key": "K", "value": VALUES[0]},
        {"key": "KC", "value": VALUES[0] + "-c1", "customerOrganizationId": "c1"},
    ):
        created = await stack.http.post("/api/v1/secrets", headers=admin, json=body)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    first = await _ask_all(stack.http, who)
    # Another length, other characters, then a newline and ": ": not a byte may change.
    for value in VALUES[1:]:
        for secret_id, suffix in zip(ids, ("", "-c1"), strict=True):
            updated = await stack.http.put(
                f"/api/v1/secrets/{secret_id}", headers=admin, json={"value": value + suffix}
            )
            assert updated.status_code == 200, updated.text
        again = await _ask_all(stack.http, who)
        for i, (before, after) in enumerate(zip(first, again, strict=True)):
            assert before == after, (i, before, after)
    text = b"\n".join(first).decode()
    for value in VALUES:
        assert _leaks(text, value) == []
        assert _leaks(text, value + "-c1") == []
        assert _leaks(b"\n".join(again).decode(), value) == []
    # The oracle template reports the same thing whatever the first character is.
    oracle = json.loads(first[0])
    assert oracle["missing"] == ["NOPE"]
    assert oracle["references"] == ["K", "NOPE"]
    # Probes do find what they should: every branch, Go's errors on stand-ins, structure.
    structure = json.loads(first[14])
    lints = sorted((e["file"], e["line"]) for e in structure["errors"])
    assert ("valuesYaml", 2) in lints  # unquoted scalar inside the if
    assert ("valuesYaml", 3) in lints  # a YAML key
    assert ("envFile", 2) in lints  # single-quoted env value
    assert ("envFile", 3) in lints  # double-quoted env value written by hand
    assert ("envFile", 4) in lints  # an env variable name
    yaml_error = json.loads(first[16])["errors"][0]
    assert (yaml_error["phase"], yaml_error["line"], yaml_error["column"]) == ("structure", 1, 5)
    scoped = [json.loads(a) for a in first[-len(PROBES) :]]
    assert scoped[-1]["missing"] == []  # the customer's own KC, OPTIONAL optional
    assert json.loads(first[len(PROBES) - 1])["missing"] == ["KC"]  # vendor scope lacks KC


async def test_every_validation_is_audited_with_the_keys_it_references(
    stack: Stack, nats_server: NatsFixture, org: str
) -> None:
    admin = _auth(nats_server, org, "admin")
    reader = _auth(nats_server, org, "read_only")
    await stack.http.post("/api/v1/secrets", headers=admin, json={"key": "K", "value": VALUES[0]})
    body = {"envFile": "A={{ .Secrets.K }}\nB={{ .Secrets.NOPE }}\n"}
    assert (
        await stack.http.post("/api/v1/templates/validate", headers=reader, json=body)
    ).status_code == 200
    refused = await stack.http.post(
        "/api/v1/templates/validate",
        headers=_auth(nats_server, org, "read_only", customer="c1"),
        json={**body, "customerOrganizationId": "c2"},
    )
    assert refused.status_code == 403
    events: list[dict[str, object]] = []
    for _ in range(100):  # the intake is appended to the chain asynchronously
        resp = await stack.http.get("/api/v1/audit?action=template.validate", headers=admin)
        assert resp.status_code == 200, resp.text
        events = resp.json()["items"]
        if len(events) >= 2:
            break
        await asyncio.sleep(0.05)
    assert [(e["actorRole"], e["outcome"], e["errorCode"]) for e in events] == [
        ("read_only", "success", None),
        ("read_only", "failed", "forbidden"),
    ], events
    assert [k["key"] for k in events[0]["keys"]] == ["K", "NOPE"]  # type: ignore[index]
    assert _leaks(json.dumps(events), VALUES[0]) == []
