"""Audit events (durable, HMAC-chained per organization), value-use intake and their query."""

import hashlib
from collections.abc import Sequence
from enum import StrEnum
from typing import Literal, cast

import pydantic_core
from pydantic import AwareDatetime, Field, TypeAdapter, ValidationError, field_validator

from sigil_shared.contracts.base import Contract
from sigil_shared.contracts.identity import Actor, Role
from sigil_shared.ids import KEY_MAX_LENGTH, EntityId


class AuditOutcome(StrEnum):
    """Whether a command was applied."""

    SUCCESS = "success"
    REFUSED = "refused"
    #: A use of values that failed (e.g. a render error); ``error_code`` says why.
    FAILED = "failed"


#: The audit chain of operator tasks (``sigil keys rotate``): not a valid organization id,
#: so no tenant can ever own it, yet a valid NATS subject token.
OPERATOR_CHAIN = "_operator"


#: Bounds of one value-use event: a deployment's templates name at most this many keys,
#: each a valid secret key name (at most KEY_MAX_LENGTH characters), so an event — and the
#: audit event sealed from it — stays well under a megabyte, far below the bus's largest
#: message.
MAX_VALUE_USE_KEYS = 2_000
#: Value-use events in one intake message (a JSON array); one event is sent as an object.
MAX_VALUE_USE_BATCH = 256
#: Bytes of one intake message the renderer sends at most (a batch is split to fit).
MAX_VALUE_USE_MESSAGE_BYTES = 1024 * 1024


class ValueUseKey(Contract):
    """One secret used (render) or referenced (validate); never its value."""

    key: str = Field(min_length=1, max_length=1024)
    #: Scope of the value used; None is vendor-level.
    customer_organization_id: EntityId | None = None
    #: Version rendered; None for validate (no value is read).
    version: int | None = None


class AuditEvent(Contract):
    """Who did what, when, and with which outcome. Never a value."""

    id: str
    organization_id: str
    actor_id: str
    actor_role: Role
    actor_customer_organization_id: str | None
    action: str
    secret_id: str | None = None
    key: str | None = None
    customer_organization_id: str | None = None
    version: int | None = None
    request_id: str
    trace_id: str | None = None
    outcome: AuditOutcome
    error_code: str | None = None
    at: AwareDatetime
    #: Value uses (``template.render`` / ``template.validate``): deployment, revision, keys.
    deployment_id: str | None = None
    revision: str | None = None
    keys: list[ValueUseKey] | None = None
    #: Operator tasks (``keys.rotate``): what was done, never key material.
    details: dict[str, str] | None = None
    #: Chain: position in the organization's chain (1 = first), the previous event's link,
    #: the audit key that sealed this one, and this event's HMAC-SHA-256 link.
    chain_seq: int = 0
    prev_hash: str
    key_id: str = ""
    hash: str = ""


class AuditQueryRequest(Contract):
    """Page an organization's audit events (admins only), oldest first."""

    actor: Actor
    request_id: str = Field(min_length=1, max_length=128)
    key: str | None = Field(default=None, max_length=1024)
    actor_id: str | None = Field(default=None, max_length=256)
    action: str | None = Field(default=None, max_length=64)
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    cursor: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=100, ge=1, le=1000)


class AuditQueryReply(Contract):
    """One page of audit events."""

    items: list[AuditEvent]
    next_cursor: str | None = None


class ValueUseEvent(Contract):
    """A use of secret values (contract C1): published by the renderer on the audit intake.

    An intake message is one event (a JSON object) or a batch of 1 to 256 events of the
    subject's organization (a JSON array). Never template text, output or values.
    ``event_id`` is the audit event id; it is also the ``Nats-Msg-Id`` of a message
    carrying one event (a batch's id is derived from its events' ids).
    """

    #: Letters, digits, ``-`` and ``_`` only: a batch's message id joins event ids with
    #: commas, which no id may then contain.
    event_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    action: Literal["template.render", "template.validate"]
    actor: Actor
    organization_id: EntityId
    customer_organization_id: EntityId | None = None
    deployment_id: EntityId | None = None
    revision: str | None = Field(default=None, max_length=256)
    keys: list[ValueUseKey] = Field(default_factory=list, max_length=MAX_VALUE_USE_KEYS)
    #: "success" or the error code.
    outcome: str = Field(min_length=1, max_length=64)
    request_id: str = Field(min_length=1, max_length=128)
    trace_id: str | None = Field(default=None, max_length=64)
    at: AwareDatetime

    # Here, not on ValueUseKey: stored audit events share that model and may hold longer
    # names recorded before this bound, which must stay readable.
    @field_validator("keys")
    @classmethod
    def _key_names_are_secret_keys(cls, keys: list[ValueUseKey]) -> list[ValueUseKey]:
        if any(len(k.key) > KEY_MAX_LENGTH for k in keys):
            msg = f"a key name is longer than {KEY_MAX_LENGTH} characters"
            raise ValueError(msg)
        return keys


class ValueUseBatchError(ValueError):
    """An intake message that is not one value-use event nor a batch of them (not JSON, a
    JSON scalar, an empty or oversized array, nesting too deep). Never quotes the input."""


def encode_value_use_batch(events: Sequence[ValueUseEvent]) -> tuple[bytes, str]:
    """``events`` as one intake message: its body and ``Nats-Msg-Id``
    (``encode_value_use_messages`` when they fit one message). ValueError for no event,
    more than ``MAX_VALUE_USE_BATCH``, more than one message's bytes or events of more than
    one organization."""
    if not 1 <= len(events) <= MAX_VALUE_USE_BATCH:
        msg = f"a value-use batch holds 1 to {MAX_VALUE_USE_BATCH} events, not {len(events)}"
        raise ValueError(msg)
    messages = encode_value_use_messages(events)
    if len(messages) != 1:
        raise ValueError("the events do not fit in one intake message")
    ((body, msg_id, _),) = messages
    return body, msg_id


def encode_value_use_messages(events: Sequence[ValueUseEvent]) -> list[tuple[bytes, str, int]]:
    """``events`` (one organization's, in order) as intake messages of at most
    ``MAX_VALUE_USE_BATCH`` events and ``MAX_VALUE_USE_MESSAGE_BYTES`` bytes each: body,
    ``Nats-Msg-Id`` and how many of the events (the next ones in order) it carries.

    One event alone is sent as its object, with its own id as the message id; several as a
    JSON array, with the first 32 hex digits of the SHA-256 of their ids joined by commas,
    so a retried publish of the same messages is stored once. ValueError for events of more
    than one organization.
    """
    if any(e.organization_id != events[0].organization_id for e in events):
        raise ValueError("a value-use batch holds the events of one organization")
    messages: list[tuple[bytes, str, int]] = []
    bodies = [e.model_dump_json().encode() for e in events]
    start = 0
    while start < len(events):
        end, size = start + 1, len(bodies[start]) + 2
        while (
            end < len(events)
            and end - start < MAX_VALUE_USE_BATCH
            and size + len(bodies[end]) + 1 <= MAX_VALUE_USE_MESSAGE_BYTES
        ):
            size += len(bodies[end]) + 1
            end += 1
        if end - start == 1:
            messages.append((bodies[start], events[start].event_id, 1))
        else:
            ids = ",".join(e.event_id for e in events[start:end]).encode()
            body = b"[" + b",".join(bodies[start:end]) + b"]"
            messages.append((body, hashlib.sha256(ids).hexdigest()[:32], end - start))
        start = end
    return messages


def _value_use_or_none(item: object) -> ValueUseEvent | None:
    try:
        return ValueUseEvent.model_validate(item)
    except ValidationError:
        return None


#: A whole batch validated straight from its JSON (the usual case, every element valid).
_VALUE_USE_BATCH = TypeAdapter(list[ValueUseEvent])


def _all_valid(data: bytes) -> list[ValueUseEvent] | None:
    """Every event of a message whose elements are all valid, in one pass from the JSON;
    None for anything else (an invalid element, a bad document), which takes the slow path
    that sorts it out. Whatever this accepts, that path decodes to the same events."""
    first = data[:1]
    if b"NaN" in data or b"Infinity" in data:
        return None  # refused by the slow path's parser, even where a later duplicate key hides it
    try:
        if first == b"[":
            events = _VALUE_USE_BATCH.validate_json(data)
        elif first == b"{":
            events = [ValueUseEvent.model_validate_json(data)]
        else:
            return None
    except ValidationError:
        return None
    return events if 1 <= len(events) <= MAX_VALUE_USE_BATCH else None


def decode_value_use_batch(data: bytes) -> list[ValueUseEvent | None]:
    """The events of one intake message: an object is one element, an array of 1 to
    ``MAX_VALUE_USE_BATCH`` one element each, in order.

    The JSON is parsed once (UTF-8 only) and each element validated on its own: an element
    that is not a valid event is None in its slot, so the rest still count. Anything else
    raises ValueUseBatchError. Which organization the events name is the caller's check.
    """
    events = _all_valid(data)
    if events is not None:
        return cast("list[ValueUseEvent | None]", events)
    return _decode_each(data)


def _decode_each(data: bytes) -> list[ValueUseEvent | None]:
    """``decode_value_use_batch`` element by element: its definition, and its way for a
    message with an invalid element or that is no event nor batch at all."""
    try:
        doc = pydantic_core.from_json(data, allow_inf_nan=False)
    except ValueError as err:  # not JSON, not UTF-8, or nested too deep
        raise ValueUseBatchError("not a JSON document") from err
    if type(doc) is dict:
        return [_value_use_or_none(doc)]
    if type(doc) is not list:
        raise ValueUseBatchError("neither an event object nor an array of events")
    if not 1 <= len(doc) <= MAX_VALUE_USE_BATCH:
        msg = f"a value-use batch holds 1 to {MAX_VALUE_USE_BATCH} events, not {len(doc)}"
        raise ValueUseBatchError(msg)
    return [_value_use_or_none(item) for item in doc]
