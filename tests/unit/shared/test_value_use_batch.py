"""Intake messages of one value-use event or a batch: encoded by the renderer, decoded by the
secrets service, one bad element never taking the others with it."""

import hashlib
import json

import pytest
from pydantic import ValidationError

from sigil_shared.contracts import (
    MAX_VALUE_USE_BATCH,
    ValueUseBatchError,
    ValueUseEvent,
    ValueUseKey,
    decode_value_use_batch,
    encode_value_use_batch,
    encode_value_use_messages,
)
from sigil_shared.contracts.audit import MAX_VALUE_USE_KEYS, MAX_VALUE_USE_MESSAGE_BYTES
from tests.helpers import value_use_event

CANARY = "canary-Batch-3307"


_use = value_use_event


def test_one_event_is_its_object_with_its_own_id() -> None:
    event = _use()
    body, msg_id = encode_value_use_batch([event])
    assert body == event.model_dump_json().encode()
    assert msg_id == event.event_id
    assert decode_value_use_batch(body) == [event]


def test_a_batch_is_an_array_with_an_id_derived_from_its_event_ids() -> None:
    events = [_use() for _ in range(5)]
    body, msg_id = encode_value_use_batch(events)
    assert json.loads(body) == [json.loads(e.model_dump_json()) for e in events]
    ids = ",".join(e.event_id for e in events).encode()
    assert msg_id == hashlib.sha256(ids).hexdigest()[:32]
    assert encode_value_use_batch(list(events))[1] == msg_id  # a retried publish dedupes
    assert encode_value_use_batch(events[::-1])[1] != msg_id
    assert decode_value_use_batch(body) == events


def test_the_largest_batch_round_trips() -> None:
    events = [_use() for _ in range(MAX_VALUE_USE_BATCH)]
    body, _ = encode_value_use_batch(events)
    assert decode_value_use_batch(body) == events


@pytest.mark.parametrize("count", [0, MAX_VALUE_USE_BATCH + 1])
def test_encode_refuses_an_empty_or_oversized_batch(count: int) -> None:
    with pytest.raises(ValueError, match="1 to 256"):
        encode_value_use_batch([_use() for _ in range(count)])


def test_encode_refuses_events_of_several_organizations() -> None:
    with pytest.raises(ValueError, match="one organization"):
        encode_value_use_batch([_use("acme"), _use("globex")])


@pytest.mark.parametrize(
    "data",
    [
        b"[]",
        b"[" + b",".join([_use().model_dump_json().encode()] * (MAX_VALUE_USE_BATCH + 1)) + b"]",
        b"not json " + CANARY.encode(),
        b"",
        b'{"eventId": "\xff\xfe"}',
        b"\xff[{}]",
        b"null",
        b"42",
        b'"' + CANARY.encode() + b'"',
        b"[" * 10_000 + b"]" * 10_000,
        b"[NaN]",
    ],
    ids=[
        "empty array",
        "257 events",
        "not JSON",
        "empty body",
        "invalid UTF-8 in a string",
        "invalid UTF-8",
        "null",
        "number",
        "string",
        "nested too deep",
        "NaN",
    ],
)
def test_decode_refuses_what_is_neither_an_event_nor_a_batch(data: bytes) -> None:
    with pytest.raises(ValueUseBatchError) as info:
        decode_value_use_batch(data)
    assert isinstance(info.value, ValueError)
    assert CANARY not in str(info.value)


def test_one_bad_element_is_none_in_its_slot_and_the_rest_decode() -> None:
    good = [_use(), _use(), _use()]
    wrong = json.loads(_use(request_id=CANARY).model_dump_json())
    wrong["smuggled"] = CANARY  # unknown field: refused
    elements = [
        json.loads(good[0].model_dump_json()),
        wrong,
        json.loads(good[1].model_dump_json()),
        [json.loads(good[2].model_dump_json())],  # an array is no event
        CANARY,
        json.loads(good[2].model_dump_json()),
    ]
    decoded = decode_value_use_batch(json.dumps(elements).encode())
    assert decoded == [good[0], None, good[1], None, None, good[2]]


def test_an_invalid_object_is_one_none() -> None:
    assert decode_value_use_batch(b'{"eventId": "e1"}') == [None]


@pytest.mark.parametrize("event_id", ["a,b", "a b", "ä", "a.b", ""])
def test_an_event_id_holds_only_letters_digits_dash_and_underscore(event_id: str) -> None:
    """A batch's message id joins event ids with commas: an id with one could make two
    different batches share a message id (and the second be dropped as a duplicate)."""
    good = json.loads(_use().model_dump_json())
    with pytest.raises(ValidationError):
        ValueUseEvent.model_validate({**good, "eventId": event_id})


def test_messages_split_a_batch_by_bytes_and_count_in_order() -> None:
    """Events that would not fit in one message of MAX_VALUE_USE_MESSAGE_BYTES go out as
    several, each under the bound, every event once, in order, each with its own id."""
    wide = [ValueUseKey(key=f"K{i:03d}" + "x" * 250, version=i) for i in range(MAX_VALUE_USE_KEYS)]
    events = [_use(keys=wide) for _ in range(5)]
    messages = encode_value_use_messages(events)
    assert len(messages) > 1
    assert all(len(body) <= MAX_VALUE_USE_MESSAGE_BYTES for body, _, _ in messages)
    decoded = [e for body, _, _ in messages for e in decode_value_use_batch(body)]
    assert decoded == events
    assert [count for _, _, count in messages] == [
        len(decode_value_use_batch(b)) for b, _, _ in messages
    ]
    small = [_use() for _ in range(MAX_VALUE_USE_BATCH + 3)]
    assert [count for _, _, count in encode_value_use_messages(small)] == [MAX_VALUE_USE_BATCH, 3]
    (single,) = encode_value_use_messages(small[:1])
    assert single == (small[0].model_dump_json().encode(), small[0].event_id, 1)


def test_the_largest_event_allowed_fits_in_one_message_and_longer_names_are_refused() -> None:
    """At most MAX_VALUE_USE_KEYS keys, each a valid key length: an event (and the audit
    event sealed from it) stays far below the bus's 4 MiB message limit."""
    longest = [
        ValueUseKey(key=f"K{i:04d}".ljust(256, "x"), version=10**9)
        for i in range(MAX_VALUE_USE_KEYS)
    ]
    event = _use(keys=longest)
    assert len(event.model_dump_json()) < MAX_VALUE_USE_MESSAGE_BYTES
    good = json.loads(event.model_dump_json())
    too_many = {**good, "keys": good["keys"] + [{"key": "ONE_MORE", "version": 1}]}
    too_long = {**good, "keys": [{"key": "K" * 257, "version": 1}]}
    for bad in (too_many, too_long):
        with pytest.raises(ValidationError):
            ValueUseEvent.model_validate(bad)
