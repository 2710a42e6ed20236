"""Render and validate commands, render receipts and impact queries."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from sigil_shared.contracts.base import Contract, WireSecret
from sigil_shared.contracts.identity import Actor
from sigil_shared.contracts.secrets import AffectedDeployment, PinnedVersion
from sigil_shared.ids import EntityId

TEMPLATE_MAX = 1024 * 1024
TemplateFile = Literal["envFile", "valuesYaml"]


class TemplateIssue(Contract):
    """One problem in a template: where, which phase, which secret, and Go's message."""

    file: TemplateFile
    phase: Literal["parse", "exec", "structure"]
    line: int | None = None
    column: int | None = None
    key: str | None = None
    message: str


class TemplateValidateBody(Contract):
    """HTTP body of ``POST /api/v1/templates/validate``."""

    env_file: str | None = Field(default=None, max_length=TEMPLATE_MAX)
    values_yaml: str | None = Field(default=None, max_length=TEMPLATE_MAX)
    customer_organization_id: EntityId | None = None


class TemplateValidateRequest(Contract):
    """Dry-run the templates as a deployment of the actor's scope would render them."""

    actor: Actor
    request_id: str = Field(min_length=1, max_length=128)
    env_file: str | None = Field(default=None, max_length=TEMPLATE_MAX)
    values_yaml: str | None = Field(default=None, max_length=TEMPLATE_MAX)
    customer_organization_id: EntityId | None = None


class TemplateValidateReply(Contract):
    """Errors, referenced keys and missing keys. Never a value.

    Each list may be cut to its first entries so that the answer fits one bus message (the
    renderer's ``bounded_validate_reply``); ``errorsOmitted``, ``referencesOmitted`` and
    ``missingOmitted`` count what was left out. ``valid`` is about every error, listed or
    not.
    """

    valid: bool
    errors: list[TemplateIssue]
    references: list[str]
    missing: list[str]
    errors_omitted: int = Field(default=0, ge=0)
    references_omitted: int = Field(default=0, ge=0)
    missing_omitted: int = Field(default=0, ge=0)


class ReceiptEntry(PinnedVersion):
    """One secret a revision was rendered with: key, scope and version (never the value)."""


class RenderReceipt(Contract):
    """What a deployment revision was rendered with."""

    organization_id: str
    customer_organization_id: str | None
    deployment_id: str
    revision: int
    secrets: list[ReceiptEntry]
    rendered_at: datetime


class TemplateRenderRequest(Contract):
    """Platform services only: render a deployment revision's templates.

    ``actor`` (the user who triggered the deployment, if the platform knows it) and
    ``request_id`` go into the value-use audit event; the renderer fills in its own when
    they are absent.
    """

    organization_id: EntityId
    customer_organization_id: EntityId | None = None
    deployment_id: EntityId
    revision: int = Field(ge=1)
    env_file: str | None = Field(default=None, max_length=TEMPLATE_MAX)
    values_yaml: str | None = Field(default=None, max_length=TEMPLATE_MAX)
    actor: Actor | None = None
    request_id: str | None = Field(default=None, min_length=1, max_length=128)


class TemplateRenderReply(Contract):
    """Rendered text (values inside, so masked outside the wire) and the receipt."""

    env_file: WireSecret | None = None
    values_yaml: WireSecret | None = None
    receipt: RenderReceipt
    reused_receipt: bool


class ReceiptImpactRequest(Contract):
    """Which live deployment revisions use this key in this scope."""

    organization_id: EntityId
    customer_organization_id: EntityId | None = None
    key: str = Field(max_length=1024)


class ReceiptImpactReply(Contract):
    """Live revisions (the newest revision of each deployment) that used the key."""

    deployments: list[AffectedDeployment]


class ReceiptRecorded(Contract):
    """Event on ``sigil.events.receipt.<org>`` after a revision is rendered."""

    receipt: RenderReceipt
