"""Secret commands, replies, internal value subjects and change events."""

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, Field

from sigil_shared.contracts.base import Contract, WireSecret
from sigil_shared.contracts.identity import Actor
from sigil_shared.ids import EntityId

# Generous on the wire: the service, not the schema, enforces the 64 KiB value limit so
# the caller gets ``value_too_large`` rather than a generic validation error.
_WIRE_VALUE_MAX = 1024 * 1024
RequestId = str


class _Command(Contract):
    actor: Actor
    request_id: RequestId = Field(min_length=1, max_length=128)


class SecretCreateBody(Contract):
    """HTTP body of ``POST /api/v1/secrets``."""

    key: str = Field(max_length=1024)
    value: WireSecret = Field(max_length=_WIRE_VALUE_MAX)
    customer_organization_id: EntityId | None = None


class SecretUpdateBody(Contract):
    """HTTP body of ``PUT /api/v1/secrets/{id}``."""

    value: WireSecret = Field(max_length=_WIRE_VALUE_MAX)
    expected_version: int | None = Field(default=None, ge=1)


class SecretCreateRequest(_Command):
    """Create a secret in the actor's organization (vendor level or one customer)."""

    key: str = Field(max_length=1024)
    value: WireSecret = Field(max_length=_WIRE_VALUE_MAX)
    customer_organization_id: EntityId | None = None


class SecretUpdateRequest(_Command):
    """Store a new value (a new version); the key is immutable."""

    id: EntityId
    value: WireSecret = Field(max_length=_WIRE_VALUE_MAX)
    expected_version: int | None = Field(default=None, ge=1)


class SecretDeleteRequest(_Command):
    """Delete a secret."""

    id: EntityId
    force: bool = False


class SecretGetRequest(_Command):
    """Metadata and version history of one secret."""

    id: EntityId


class SecretListRequest(_Command):
    """Metadata of the actor's scope, sorted by key, paged.

    ``customer_organization_id`` filters to one customer's secrets; ``vendor_only``
    to vendor-level ones. Customer users always get their own scope.
    """

    customer_organization_id: EntityId | None = None
    vendor_only: bool = False
    cursor: str | None = Field(default=None, max_length=2048)
    limit: int = Field(default=100, ge=1, le=1000)


class SecretVersionInfo(Contract):
    """One version of a secret: who wrote it and when. Never the value."""

    version: int
    created_at: AwareDatetime
    created_by: str


class SecretMetadata(Contract):
    """What every read returns about a secret."""

    id: str
    key: str
    customer_organization_id: str | None
    version: int
    created_at: AwareDatetime
    created_by: str
    updated_at: AwareDatetime
    updated_by: str
    too_short_to_mask: bool = False


class SecretDetail(SecretMetadata):
    """Metadata plus the version history, newest first."""

    versions: list[SecretVersionInfo]


class SecretListReply(Contract):
    """One page of metadata."""

    items: list[SecretMetadata]
    next_cursor: str | None = None


class AffectedDeployment(Contract):
    """A live deployment revision rendered with a given secret."""

    deployment_id: str
    revision: int
    version: int


class SecretUpdateReply(SecretMetadata):
    """Metadata after an update, and the live revisions still rendered with older values.

    ``affected_deployments`` is null when the renderer could not be asked.

    Pinned versions: a version named by a live deployment revision's render receipt is
    never evicted by the history bound (``SIGIL_HISTORY``), which counts unpinned versions
    only. ``pinned_versions`` lists this secret's versions that live revisions pin (newest
    first); it is null when the renderer could not be asked, and then this update evicted
    nothing. ``history_full_of_pins`` is true when pinned versions alone fill every slot of
    the bound: the update still succeeded, and the secret keeps more than ``SIGIL_HISTORY``
    versions until those deployments are redeployed.
    """

    affected_deployments: list[AffectedDeployment] | None = None
    pinned_versions: list[int] | None = None
    history_full_of_pins: bool = False


class SecretDeleteReply(Contract):
    """What a delete removed, and the live revisions that referenced it (when forced)."""

    id: str
    key: str
    version: int
    affected_deployments: list[AffectedDeployment] = Field(default_factory=list)


class PinnedVersion(Contract):
    """A (key, scope, version) triple from a render receipt."""

    key: str = Field(max_length=1024)
    customer_organization_id: EntityId | None = None
    version: int = Field(ge=1)


class SecretResolveRequest(Contract):
    """Internal (renderer only): the values a deployment of this scope gets.

    ``keys`` limits the reply to the keys the templates reference (least privilege).
    """

    organization_id: EntityId
    customer_organization_id: EntityId | None = None
    pinned: list[PinnedVersion] | None = None
    keys: list[str] | None = Field(default=None, max_length=10_000)


class ResolvedSecret(Contract):
    """One value a deployment gets, with where it came from."""

    key: str
    customer_organization_id: str | None
    version: int
    value: WireSecret


class SecretResolveReply(Contract):
    """Values for rendering, customer-specific winning over vendor-level on the same key."""

    secrets: list[ResolvedSecret]


class RedactionValuesRequest(Contract):
    """Internal (redactor only): every value a deployment of this scope could have seen.

    ``all_customers``: a deployment without render receipts has no known scope, so it is
    masked with every value of the organization (vendor-level and every customer's).
    """

    organization_id: EntityId
    customer_organization_id: EntityId | None = None
    all_customers: bool = False
    pinned: list[PinnedVersion] = Field(default_factory=list)
    #: Paging: the previous reply's ``next_start`` and ``snapshot``. The snapshot names the
    #: whole set (a digest over every value's digest: nothing about any one value); a page
    #: asked for under another snapshot is refused (conflict), and the caller starts again.
    start: int = Field(default=0, ge=0)
    snapshot: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class RedactionValuesReply(Contract):
    """Values to mask, as many as fit one bus message; ``next_start`` asks for the rest."""

    values: list[WireSecret]
    next_start: int | None = None
    snapshot: str | None = None


class SecretChanged(Contract):
    """Change event on ``sigil.events.secret.<change>.<org>``. Never a value."""

    change: Literal["created", "updated", "deleted"]
    organization_id: str
    customer_organization_id: str | None
    id: str
    key: str
    version: int
    actor_id: str
    too_short_to_mask: bool
    at: datetime
