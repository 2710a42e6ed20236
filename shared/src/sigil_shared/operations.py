"""Every bus operation declared once: subject, contracts, owning service, allowed users.

Handler registration (``bus.serve``), the callers' typed client (``bus.request``), the
NATS permission table (``permissions``) and the AsyncAPI document are derived from these
declarations, so a permission cannot drift from the code. Subject names themselves live
in ``subjects``; JetStream streams and buckets in ``streams``.
"""

from dataclasses import dataclass
from typing import Any, Final, Generic, Literal, TypeVar

from pydantic import BaseModel

from sigil_shared import subjects as s
from sigil_shared.contracts import (
    MAX_VALUE_USE_BATCH,
    AuditEvent,
    AuditQueryReply,
    AuditQueryRequest,
    HealthReply,
    HealthRequest,
    LogPageReply,
    LogPageRequest,
    LogRecord,
    ReceiptImpactReply,
    ReceiptImpactRequest,
    ReceiptRecorded,
    RedactionValuesReply,
    RedactionValuesRequest,
    SecretChanged,
    SecretCreateRequest,
    SecretDeleteReply,
    SecretDeleteRequest,
    SecretDetail,
    SecretGetRequest,
    SecretListReply,
    SecretListRequest,
    SecretMetadata,
    SecretResolveReply,
    SecretResolveRequest,
    SecretUpdateReply,
    SecretUpdateRequest,
    TemplateRenderReply,
    TemplateRenderRequest,
    TemplateValidateReply,
    TemplateValidateRequest,
    ValueUseEvent,
)

#: Every NATS user: the four services, the platform's own services, and the setup step.
User = Literal["secrets", "renderer", "redactor", "gateway", "platform", "bootstrap"]
USERS: Final[tuple[User, ...]] = (
    "secrets",
    "renderer",
    "redactor",
    "gateway",
    "platform",
    "bootstrap",
)
#: Users that run while the system serves; ``bootstrap`` only runs the setup step.
RUNTIME_USERS: Final[tuple[User, ...]] = USERS[:-1]

RequestT = TypeVar("RequestT", bound=BaseModel)
ReplyT = TypeVar("ReplyT", bound=BaseModel)


@dataclass(frozen=True)
class Command(Generic[RequestT, ReplyT]):
    """A request/reply command answered by ``owner``'s queue group in a ``Reply`` envelope."""

    subject: str
    request: type[RequestT]
    reply: type[ReplyT]
    owner: s.ServiceName
    callers: frozenset[User]
    description: str

    @property
    def queue(self) -> str:
        """Queue group of the owning service (replicas share the load)."""
        return s.queue(self.owner)


@dataclass(frozen=True)
class Event:
    """A published message (no reply): who publishes, who may subscribe.

    ``address`` names the placeholders for AsyncAPI; ``pattern`` is the NATS wildcard
    used in permissions and subscriptions. An event captured by a JetStream stream is
    published with a JetStream publish (PubAck) and names the stream.
    """

    address: str
    pattern: str
    message: type[BaseModel]
    publishers: frozenset[User]
    subscribers: frozenset[User]
    description: str
    stream: str | None = None


def _users(*names: User) -> frozenset[User]:
    return frozenset(names)


SECRET_CREATE: Final = Command(
    s.SECRET_CREATE,
    SecretCreateRequest,
    SecretMetadata,
    "secrets",
    _users("gateway"),
    "Create a secret in the caller's scope; 409-style conflict on a duplicate key",
)
SECRET_UPDATE: Final = Command(
    s.SECRET_UPDATE,
    SecretUpdateRequest,
    SecretUpdateReply,
    "secrets",
    _users("gateway"),
    "New version of a secret's value; names the deployments it affects",
)
SECRET_DELETE: Final = Command(
    s.SECRET_DELETE,
    SecretDeleteRequest,
    SecretDeleteReply,
    "secrets",
    _users("gateway"),
    "Delete a secret (kept as a tombstone for redaction)",
)
SECRET_GET: Final = Command(
    s.SECRET_GET,
    SecretGetRequest,
    SecretDetail,
    "secrets",
    _users("gateway"),
    "Metadata and version history of one secret; never a value",
)
SECRET_LIST: Final = Command(
    s.SECRET_LIST,
    SecretListRequest,
    SecretListReply,
    "secrets",
    _users("gateway"),
    "Metadata of the caller's scope, sorted by key, paged",
)
AUDIT_QUERY: Final = Command(
    s.AUDIT_QUERY,
    AuditQueryRequest,
    AuditQueryReply,
    "secrets",
    _users("gateway"),
    "Audit events of the caller's scope (admins), filtered and paged",
)
SECRET_RESOLVE: Final = Command(
    s.SECRET_RESOLVE,
    SecretResolveRequest,
    SecretResolveReply,
    "secrets",
    _users("renderer"),
    "The values a deployment of a scope gets (renderer only)",
)
SECRET_REDACTION_VALUES: Final = Command(
    s.SECRET_REDACTION_VALUES,
    RedactionValuesRequest,
    RedactionValuesReply,
    "secrets",
    _users("redactor"),
    "Every value a deployment could have seen, to mask its logs (redactor only)",
)
TEMPLATE_RENDER: Final = Command(
    s.TEMPLATE_RENDER,
    TemplateRenderRequest,
    TemplateRenderReply,
    "renderer",
    _users("platform"),
    "Render a deployment revision's templates with its secrets; records a receipt",
)
TEMPLATE_VALIDATE: Final = Command(
    s.TEMPLATE_VALIDATE,
    TemplateValidateRequest,
    TemplateValidateReply,
    "renderer",
    _users("gateway", "platform"),
    "Value-blind validation: a function of the template and of which keys exist",
)
RECEIPT_IMPACT: Final = Command(
    s.RECEIPT_IMPACT,
    ReceiptImpactRequest,
    ReceiptImpactReply,
    "renderer",
    _users("secrets"),
    "Live deployments whose receipts name a secret (shown on update/delete)",
)
LOGS_PAGE: Final = Command(
    s.LOGS_PAGE,
    LogPageRequest,
    LogPageReply,
    "redactor",
    _users("gateway"),
    "A page of a deployment's redacted log records",
)


def health(service: s.ServiceName) -> Command[HealthRequest, HealthReply]:
    """``sigil.health.<service>``: asked by the gateway's /readyz, the platform, and the
    service's own container health check (which runs with the service's credentials)."""
    return Command(
        s.health(service),
        HealthRequest,
        HealthReply,
        service,
        _users("gateway", "platform", service),
        f"Readiness of the {service} service and what is missing",
    )


HEALTH_SECRETS: Final = health("secrets")
HEALTH_RENDERER: Final = health("renderer")
HEALTH_REDACTOR: Final = health("redactor")

COMMANDS: Final[tuple[Command[Any, Any], ...]] = (
    SECRET_CREATE,
    SECRET_UPDATE,
    SECRET_DELETE,
    SECRET_GET,
    SECRET_LIST,
    AUDIT_QUERY,
    SECRET_RESOLVE,
    SECRET_REDACTION_VALUES,
    TEMPLATE_RENDER,
    TEMPLATE_VALIDATE,
    RECEIPT_IMPACT,
    LOGS_PAGE,
    HEALTH_SECRETS,
    HEALTH_RENDERER,
    HEALTH_REDACTOR,
)

SECRET_CHANGED: Final = Event(
    "sigil.events.secret.{change}.{org}",
    s.SECRET_EVENTS_ALL,
    SecretChanged,
    _users("secrets"),
    # The renderer drops a changed organization's cached values (contract C2 keeps them fresh).
    _users("redactor", "platform", "renderer"),
    "created / updated / deleted, with tooShortToMask; never a value",
)
RECEIPT_RECORDED: Final = Event(
    "sigil.events.receipt.{org}",
    s.RECEIPT_EVENTS_ALL,
    ReceiptRecorded,
    _users("renderer"),
    _users("redactor", "platform"),
    "A deployment revision was rendered: (key, scope, version) triples, never values",
)
AUDIT_RECORDED: Final = Event(
    "sigil.audit.{org}.{action}",
    s.AUDIT_ALL,
    AuditEvent,
    _users("secrets"),
    _users("platform"),
    "Every command, applied or refused, and every use of values; keyed chain per "
    "organization; never a value",
    stream=s.AUDIT_STREAM,
)
VALUE_USE: Final = Event(
    "sigil.auditintake.{org}",
    s.AUDIT_INTAKE_ALL,
    ValueUseEvent,
    _users("renderer"),
    frozenset(),
    "A render or validation used (the names of) secrets: one event or a batch (array) of "
    f"up to {MAX_VALUE_USE_BATCH} of the organization's events; the secrets service's "
    "durable consumer appends them to the audit chain before acking; never template text "
    "or values",
    stream=s.AUDIT_INTAKE_STREAM,
)
LOGS_RAW: Final = Event(
    "sigil.logs.raw.{org}.{deployment}",
    s.LOGS_RAW_ALL,
    LogRecord,
    _users("platform"),
    frozenset(),
    "Raw deployment log records (one object or a JSON array, up to 1 MiB), into the "
    "work-queue stream; consumed by the redactor's durable pull consumer only",
    stream=s.LOGS_RAW_STREAM,
)
LOGS_REDACTED: Final = Event(
    "sigil.logs.redacted.{org}.{deployment}",
    s.LOGS_REDACTED_ALL,
    LogRecord,
    _users("redactor"),
    _users("gateway"),
    "Redacted log records; every secret form is ********",
    stream=s.LOGS_REDACTED_STREAM,
)

EVENTS: Final[tuple[Event, ...]] = (
    SECRET_CHANGED,
    RECEIPT_RECORDED,
    AUDIT_RECORDED,
    VALUE_USE,
    LOGS_RAW,
    LOGS_REDACTED,
)


def owned_by(service: str) -> list[Command[Any, Any]]:
    """The commands one service answers."""
    return [op for op in COMMANDS if op.owner == service]


def command_for(subject: str) -> Command[Any, Any] | None:
    """The declaration of a command subject, if it is one."""
    return next((op for op in COMMANDS if op.subject == subject), None)
