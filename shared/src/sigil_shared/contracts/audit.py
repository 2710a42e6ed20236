"""Audit events (durable, HMAC-chained per organization), value-use intake and their query."""

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, Field

from sigil_shared.contracts.base import Contract
from sigil_shared.contracts.identity import Actor, Role
from sigil_shared.ids import EntityId


class AuditOutcome(StrEnum):
    """Whether a command was applied."""

    SUCCESS = "success"
    REFUSED = "refused"
    #: A use of values that failed (e.g. a render error); ``error_code`` says why.
    FAILED = "failed"


#: The audit chain of operator tasks (``sigil keys rotate``): not a valid organization id,
#: so no tenant can ever own it, yet a valid NATS subject token.
OPERATOR_CHAIN = "_operator"


#: Bounds of one value-use event: a template names at most this many keys.
MAX_VALUE_USE_KEYS = 10_000


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

    Never template text, output or values. ``event_id`` is also the ``Nats-Msg-Id``.
    """

    event_id: str = Field(min_length=1, max_length=64)
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
