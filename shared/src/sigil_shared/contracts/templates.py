"""Render and validate commands, render receipts and impact queries."""

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

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


#: A validate answer lists at most this many errors, and at most this many bytes of them (as
#: JSON); the rest are counted in ``errorsOmitted``.
VALIDATE_MAX_ERRORS = 100
VALIDATE_ERRORS_BYTES = 512 * 1024
#: ``references`` and ``missing`` each list at most this many names and bytes of them.
VALIDATE_MAX_NAMES = 1000
VALIDATE_NAMES_BYTES = 192 * 1024


def _prefix(items: list[Any], size: Callable[[Any], int], most: int, budget: int) -> int:
    """How many of ``items``, from the first, fit in ``most`` entries and ``budget`` bytes."""
    used = 0
    for n, item in enumerate(items[:most]):
        used += size(item) + 1  # and its comma
        if used > budget:
            return n
    return min(len(items), most)


def _issue_size(issue: object) -> int:
    if isinstance(issue, TemplateIssue):
        return len(issue.model_dump_json())
    return _name_size(issue)  # a JSON object being read


def _name_size(name: object) -> int:
    # ASCII-escaped JSON is never shorter than the UTF-8 the reply is sent as.
    try:
        return len(json.dumps(name))
    except (TypeError, ValueError):
        return 0  # not JSON: pydantic refuses it


class TemplateValidateReply(Contract):
    """Errors, referenced keys and missing keys. Never a value.

    Bounded so that it always fits in one bus message (well under NATS's 1 MiB default):
    ``errors`` lists the first errors in order — at most ``VALIDATE_MAX_ERRORS`` and
    ``VALIDATE_ERRORS_BYTES`` of JSON — and ``errorsOmitted`` counts the rest; ``references``
    and ``missing`` (sorted) likewise list their first names, at most ``VALIDATE_MAX_NAMES``
    and ``VALIDATE_NAMES_BYTES`` each, with ``referencesOmitted`` and ``missingOmitted``.
    The bound is applied whenever a reply is built, so no producer can exceed it; it depends
    on the lists only (the text and which keys exist), never on a value. ``valid`` is about
    every error, listed or not.
    """

    valid: bool
    errors: list[TemplateIssue]
    references: list[str]
    missing: list[str]
    errors_omitted: int = Field(default=0, ge=0)
    references_omitted: int = Field(default=0, ge=0)
    missing_omitted: int = Field(default=0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data  # pydantic refuses it
        bounded = dict(data)
        for field, size, most, budget in (
            ("errors", _issue_size, VALIDATE_MAX_ERRORS, VALIDATE_ERRORS_BYTES),
            ("references", _name_size, VALIDATE_MAX_NAMES, VALIDATE_NAMES_BYTES),
            ("missing", _name_size, VALIDATE_MAX_NAMES, VALIDATE_NAMES_BYTES),
        ):
            items = bounded.get(field)
            if not isinstance(items, list):
                continue  # pydantic refuses it
            keep = _prefix(items, size, most, budget)
            if keep == len(items):
                continue
            counter = f"{field}_omitted"
            alias = f"{field}Omitted"
            before = bounded.pop(alias, bounded.get(counter, 0))
            bounded[field] = items[:keep]
            bounded[counter] = (before if isinstance(before, int) else 0) + len(items) - keep
        return bounded


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
