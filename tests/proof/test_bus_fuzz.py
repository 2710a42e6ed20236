"""Hypothesis sends arbitrary payloads to every command subject: each gets a typed reply."""

import json

import nats
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client as NatsClient

from sigil_shared import subjects
from tests.helpers import NatsFixture
from tests.integration.stack import running_stack
from tests.proof.conftest import FULL, Record

pytestmark = pytest.mark.proof
CANARY = "fuzz-canary-value-2718"
COMMANDS = [
    subjects.SECRET_CREATE,
    subjects.SECRET_UPDATE,
    subjects.SECRET_DELETE,
    subjects.SECRET_GET,
    subjects.SECRET_LIST,
    subjects.AUDIT_QUERY,
    subjects.TEMPLATE_VALIDATE,
    subjects.TEMPLATE_RENDER,
    subjects.RECEIPT_IMPACT,
    subjects.LOGS_PAGE,
    *(subjects.health(s) for s in subjects.BUS_SERVICES),
]
FIELDS = [
    "actor",
    "requestId",
    "key",
    "value",
    "id",
    "organizationId",
    "customerOrganizationId",
    "envFile",
    "limit",
    "x",
]
# Canaries travel as values, never as field names (unknown field names are reported back).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.just(CANARY),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=5)
    ),
    max_leaves=12,
)
payloads = st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=64))


async def _connect(nats_server: NatsFixture, user: str) -> NatsClient:
    return await nats.connect(
        nats_server.url,
        user=user,
        password=nats_server.data.passwords()[user],
        inbox_prefix=f"_INBOX.{user}",
    )


async def test_command_subjects_answer_every_payload_with_a_typed_error(
    nats_server: NatsFixture, record_figure: Record
) -> None:
    cases: list[tuple[str, bytes]] = []

    @given(subject=st.sampled_from(COMMANDS), payload=payloads)
    @settings(
        max_examples=400 if FULL else 60,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def collect(subject: str, payload: bytes) -> None:
        cases.append((subject, payload))

    collect()
    # Each subject is asked as a user the permissions allow to ask it.
    users = {
        "gateway": await _connect(nats_server, "gateway"),
        "platform": await _connect(nats_server, "platform"),
        "secrets": await _connect(nats_server, "secrets"),
    }
    asker = {subjects.TEMPLATE_RENDER: "platform", subjects.RECEIPT_IMPACT: "secrets"}
    failures = []
    try:
        async with running_stack(nats_server):
            for subject, payload in cases:
                client = users[asker.get(subject, "gateway")]
                try:
                    reply = await client.request(subject, payload, timeout=5)
                except Exception as err:  # noqa: BLE001 - any non-reply is a failure to report
                    failures.append(f"{subject}: no reply ({type(err).__name__})")
                    continue
                body = json.loads(reply.data)
                if set(body) != {"ok", "data", "error"} or (not body["ok"] and not body["error"]):
                    failures.append(f"{subject}: untyped reply")
                if CANARY.encode() in reply.data or b"Traceback" in reply.data:
                    failures.append(f"{subject}: reply echoes input {reply.data[:200]!r}")
    finally:
        for client in users.values():
            await client.close()
    record_figure("Bus contract fuzzing", "cases run", len(cases))
    record_figure("Bus contract fuzzing", "failures", len(failures))
    assert not failures, failures[:10]
