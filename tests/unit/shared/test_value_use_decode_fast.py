"""Decoding an intake message in one pass when all its events are valid gives what the
element-by-element definition gives, for every message: the same events, the same None
slots, the same refusal."""

import json
import uuid
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from sigil_shared.contracts import (
    Actor,
    Role,
    ValueUseBatchError,
    ValueUseKey,
    decode_value_use_batch,
)
from sigil_shared.contracts.audit import _decode_each
from tests.helpers import value_use_event

_EVENT = value_use_event(
    "acme",
    actor=Actor(user_id="u1", organization_id="acme", role=Role.READ_WRITE),
    deployment_id="web",
    revision="3",
    keys=[
        ValueUseKey(key="DB_PASSWORD", version=2),
        ValueUseKey(key="API", customer_organization_id="c1"),
    ],
    at=datetime(2026, 1, 1, tzinfo=UTC),
)
_FIELDS = list(json.loads(_EVENT.model_dump_json()))
#: Raw JSON values the two parsers or the two validation modes might read differently.
_TOKENS = [
    "NaN", "Infinity", "-Infinity", "1e400", "1e2", "1.0", "1.5", "true", "false", "null",
    '"x"', '""', "[]", "{}", "99999999999999999999999", "-1", "1700000000", "1.7e9",
    '"\\ud800"', '"\\u0000"', '"é"', '"2026-01-01T00:00:00"', '"2026-01-01T00:00:00+01:00"',
    '"admin"', '"template.validate"', '"acme"', '"other"', '"a b"', '[{"key":"K"}]',
    '[{"key":"K","version":NaN}]', '[{"key":""}]',
    '{"userId":"u","organizationId":"acme","role":"x"}',
]  # fmt: skip


@st.composite
def _element(draw: st.DrawFn) -> str:
    """One array element: a valid event, or one with a field replaced, dropped, added twice
    or unknown, or no object at all."""
    body = _EVENT.model_copy(update={"event_id": uuid.uuid4().hex}).model_dump_json()
    kind = draw(st.sampled_from(["valid", "valid", "replace", "drop", "duplicate", "extra", "raw"]))
    if kind == "valid":
        return body
    if kind == "raw":
        return draw(st.sampled_from(_TOKENS))
    field = draw(st.sampled_from(_FIELDS))
    token = draw(st.sampled_from(_TOKENS))
    doc = json.loads(body)
    if kind == "drop":
        del doc[field]
        return json.dumps(doc)
    rest = json.dumps({k: v for k, v in doc.items() if k != field})[1:-1]
    if kind == "replace":
        return f'{{{rest}, "{field}": {token}}}'
    if kind == "duplicate":  # the value read is the last one, in both parsers
        return f'{{"{field}": {token}, {rest}, "{field}": {json.dumps(doc[field])}}}'
    return f'{{{rest}, "smuggled": {token}}}'


@st.composite
def _message(draw: st.DrawFn) -> bytes:
    elements = draw(st.lists(_element(), min_size=0, max_size=6))
    one = bool(elements) and draw(st.booleans())  # one event: an object
    text = elements[0] if one else "[" + ",".join(elements) + "]"
    text = draw(st.sampled_from(["", " ", "\n"])) + text + draw(st.sampled_from(["", " ", "x"]))
    return text.encode("utf-8", "surrogatepass")


def _outcome(decode: object, data: bytes) -> object:
    try:
        return decode(data)  # type: ignore[operator]
    except ValueUseBatchError as err:
        return ("refused", str(err))


@settings(max_examples=1500, deadline=None)
@given(data=_message())
def test_decoding_in_one_pass_gives_what_element_by_element_gives(data: bytes) -> None:
    assert _outcome(decode_value_use_batch, data) == _outcome(_decode_each, data)


def test_a_message_of_valid_events_decodes_to_them() -> None:
    events = [_EVENT.model_copy(update={"event_id": str(n)}) for n in range(3)]
    body = ("[" + ",".join(e.model_dump_json() for e in events) + "]").encode()
    assert decode_value_use_batch(body) == events
    assert decode_value_use_batch(events[0].model_dump_json().encode()) == events[:1]
