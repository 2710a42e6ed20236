"""The canonical JSON that audit links cover: the fast path writes the same bytes as its
definition (a pydantic dump, then sorted ``json.dumps``) for every event, so chains stored
before it still verify and events sealed with it verify anywhere."""

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError

from sigil_secrets.domain.audit_chain import (
    _KEY_WIRE_NAMES,
    ChainHead,
    _canonical,
    event_link,
    link_verifies,
    seal,
    seal_events,
)
from sigil_secrets.domain.crypto import Keyring
from sigil_shared.contracts import AuditEvent, AuditOutcome, Role, ValueUseKey

KEYRING = Keyring.parse("a1:" + base64.b64encode(b"A" * 32).decode())
KEY = KEYRING.key("a1")


def _original(event: AuditEvent) -> bytes:
    """The canonical JSON as it was defined when the first chains were sealed."""
    body = event.model_dump(mode="json", exclude={"hash"})
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


# Text that json.dumps escapes and pydantic-core does not, or cannot write at all: DEL, lone
# surrogates, non-ASCII, controls, quotes, backslashes, line separators.
_AWKWARD_CHARS = 'aZ0 \x7f\ud800\udfffeßé😀\x00\x1f\n"\\/\u2028\ufeff\U0010ffff<&'
_AWKWARD = st.text(alphabet=st.sampled_from(_AWKWARD_CHARS), max_size=12)
_TEXT = st.one_of(st.text(max_size=12), _AWKWARD, st.text(alphabet="abcXYZ09_-", max_size=12))
_INTS = st.one_of(st.integers(-(2**70), 2**70), st.integers(0, 10))
_IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,8}", fullmatch=True)
_OFFSETS = st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
_ZONES = st.one_of(st.just(UTC), st.builds(timezone, _OFFSETS))
_AT = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=_ZONES,
)


def _model(model: type[BaseModel]) -> Callable[[dict[str, object]], BaseModel | None]:
    """Validate a drawn dict; None where the contract refuses it (e.g. a lone surrogate
    in a bounded field), which the filter below drops."""

    def build(fields: dict[str, object]) -> BaseModel | None:
        try:
            return model.model_validate(fields)
        except ValidationError:
            return None

    return build


def _valid(model: object) -> bool:
    return model is not None


_KEYS = (
    st.fixed_dictionaries(
        {
            "key": st.text(min_size=1, max_size=10) | _AWKWARD.filter(bool),
            "customer_organization_id": st.none() | _IDS,
            "version": st.none() | _INTS,
        }
    )
    .map(_model(ValueUseKey))
    .filter(_valid)
)
_EVENTS = (
    st.fixed_dictionaries(
        {
            "id": _TEXT,
            "organization_id": _TEXT,
            "actor_id": _TEXT,
            "actor_role": st.sampled_from(Role),
            "actor_customer_organization_id": st.none() | _TEXT,
            "action": _TEXT,
            "secret_id": st.none() | _TEXT,
            "key": st.none() | _TEXT,
            "customer_organization_id": st.none() | _TEXT,
            "version": st.none() | _INTS,
            "request_id": _TEXT,
            "trace_id": st.none() | _TEXT,
            "outcome": st.sampled_from(AuditOutcome),
            "error_code": st.none() | _TEXT,
            "at": _AT,
            "deployment_id": st.none() | _TEXT,
            "revision": st.none() | _TEXT,
            "keys": st.none() | st.lists(_KEYS, max_size=5),
            "details": st.none() | st.dictionaries(_TEXT, _TEXT, max_size=5),
            "chain_seq": _INTS,
            "prev_hash": _TEXT,
            "key_id": _TEXT,
            "hash": _TEXT,
        }
    )
    .map(_model(AuditEvent))
    .filter(_valid)
)


@settings(max_examples=1500, deadline=None)
@given(event=_EVENTS)
def test_canonical_json_is_byte_identical_to_its_definition(event: AuditEvent) -> None:
    assert _canonical(event) == _original(event)
    assert event_link(event, KEY) == hmac.new(KEY, _original(event), hashlib.sha256).hexdigest()


@settings(max_examples=500, deadline=None)
@given(event=_EVENTS, chain_seq=_INTS, prev_hash=_TEXT, key_id=_TEXT)
def test_canonical_json_of_chain_fields_set_aside_is_that_of_the_changed_event(
    event: AuditEvent, chain_seq: int, prev_hash: str, key_id: str
) -> None:
    update = {"chain_seq": chain_seq, "prev_hash": prev_hash, "key_id": key_id}
    assert _canonical(event, update) == _original(event.model_copy(update=update))


@settings(max_examples=300, deadline=None)
@given(events=st.lists(_EVENTS, min_size=1, max_size=4), seq=st.integers(0, 2**40))
def test_sealed_events_link_as_they_did_before(events: list[AuditEvent], seq: int) -> None:
    head = ChainHead(link="f" * 64, chain_seq=seq)
    sealed = seal_events(events, head=head, keyring=KEYRING)
    link = head.link
    for position, (event, out) in enumerate(zip(events, sealed, strict=True), start=seq + 1):
        # The sealing as first written: a copy with the chain fields, its link, a copy with it.
        linked = event.model_copy(
            update={"chain_seq": position, "prev_hash": link, "key_id": "a1", "hash": ""}
        )
        link = hmac.new(KEY, _original(linked), hashlib.sha256).hexdigest()
        expected = linked.model_copy(update={"hash": link})
        assert out == expected
        assert link_verifies(out, KEYRING)
        try:
            stored = expected.model_dump_json()  # the message published
        except PydanticSerializationError:  # a lone surrogate is never stored, then or now
            continue
        assert out.model_dump_json() == stored


@settings(max_examples=500, deadline=None)
@given(events=st.lists(_EVENTS, min_size=1, max_size=4))
def test_the_stored_json_of_a_sealed_event_reads_back_as_it(events: list[AuditEvent]) -> None:
    try:
        sealed = seal(events, head=ChainHead(), keyring=KEYRING)
    except PydanticSerializationError:  # a lone surrogate is never stored
        return
    for event, body in sealed:
        # What was stored before it (pydantic's JSON of the sealed event), key order aside,
        # and it verifies when read back exactly when that did (an offset of seconds, which
        # JSON input cannot carry, is lost in both).
        before = event.model_dump_json()
        assert json.loads(body) == json.loads(before)
        assert link_verifies(AuditEvent.model_validate_json(body), KEYRING) == link_verifies(
            AuditEvent.model_validate_json(before), KEYRING
        )
        offset = event.at.utcoffset()
        if offset is not None and offset.total_seconds() % 60 == 0:
            assert link_verifies(AuditEvent.model_validate_json(body), KEYRING)


def test_the_fast_path_names_every_field_of_a_used_key() -> None:
    # _canonical_fast writes a ValueUseKey's fields by name: a new field must be added there.
    wire = sorted(info.alias or name for name, info in ValueUseKey.model_fields.items())
    assert tuple(wire) == _KEY_WIRE_NAMES


def test_a_chain_sealed_before_still_verifies() -> None:
    # Sealed with the original definition (the link below), read back from its stored JSON.
    stored = (
        '{"id":"e1","organizationId":"acme","actorId":"ü","actorRole":"admin",'
        '"actorCustomerOrganizationId":null,"action":"template.render","secretId":null,'
        '"key":null,"customerOrganizationId":"c1","version":null,"requestId":"r\\u007f",'
        '"traceId":null,"outcome":"failed","errorCode":"boom","at":"2026-01-01T00:00:00.5+05:30",'
        '"deploymentId":"web","revision":"3","keys":[{"key":"DB","customerOrganizationId":"c1",'
        '"version":2},{"key":"API","customerOrganizationId":null,"version":null}],'
        '"details":{"z":"1","a":"é"},"chainSeq":1,"prevHash":"'
        + "0" * 64
        + '","keyId":"a1","hash":""}'
    )
    event = AuditEvent.model_validate_json(stored)
    link = hmac.new(KEY, _original(event), hashlib.sha256).hexdigest()
    sealed = event.model_copy(update={"hash": link})
    assert _canonical(event) == _original(event)
    assert link_verifies(sealed, KEYRING)
