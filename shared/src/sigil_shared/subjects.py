"""The single home of every NATS subject, queue group, stream, KV bucket and durable name."""

from typing import Final, Literal

ServiceName = Literal["secrets", "renderer", "redactor", "gateway"]
#: Services that answer on the bus (the gateway only asks).
BUS_SERVICES: Final[tuple[ServiceName, ...]] = ("secrets", "renderer", "redactor")

ROOT: Final = "sigil"


def health(service: str) -> str:
    """Health request subject of one service."""
    return f"{ROOT}.health.{service}"


def queue(service: str) -> str:
    """Queue group shared by every replica of one service."""
    return f"{ROOT}-{service}"


# Secrets service commands: sigil.<service>.<noun>.<verb>
SECRET_CREATE: Final = "sigil.secrets.secret.create"
SECRET_UPDATE: Final = "sigil.secrets.secret.update"
SECRET_DELETE: Final = "sigil.secrets.secret.delete"
SECRET_GET: Final = "sigil.secrets.secret.get"
SECRET_LIST: Final = "sigil.secrets.secret.list"
AUDIT_QUERY: Final = "sigil.secrets.audit.query"
# Internal value subjects: NATS permissions limit who may ask.
SECRET_RESOLVE: Final = "sigil.secrets.internal.resolve"
SECRET_REDACTION_VALUES: Final = "sigil.secrets.internal.redaction_values"

# Renderer commands
TEMPLATE_RENDER: Final = "sigil.renderer.template.render"
TEMPLATE_VALIDATE: Final = "sigil.renderer.template.validate"
RECEIPT_IMPACT: Final = "sigil.renderer.receipt.impact"
RECEIPT_EVENTS_ALL: Final = "sigil.events.receipt.>"


def receipt_event(org: str) -> str:
    """Receipt event subject of one organization."""
    return f"{ROOT}.events.receipt.{org}"


# Redactor commands
LOGS_PAGE: Final = "sigil.redactor.logs.page"

# Public subjects of ARCHITECTURE.md
AUDIT_ALL: Final = "sigil.audit.>"
SECRET_EVENTS_ALL: Final = "sigil.events.secret.>"
LOGS_RAW_ALL: Final = "sigil.logs.raw.>"
LOGS_REDACTED_ALL: Final = "sigil.logs.redacted.>"


def audit(org: str, action: str) -> str:
    """Subject of one audit event."""
    return f"{ROOT}.audit.{org}.{action}"


def audit_org(org: str) -> str:
    """Every audit subject of one organization (its hash chain)."""
    return f"{ROOT}.audit.{org}.>"


# Value-use audit intake (contract C1): renderers publish ValueUseEvents here; the
# secrets service appends each to the organization's keyed chain, then acks.
AUDIT_INTAKE_STREAM: Final = "SIGIL_AUDIT_INTAKE"
AUDIT_INTAKE_ALL: Final = "sigil.auditintake.>"
AUDIT_INTAKE_DURABLE: Final = "sigil-secrets-audit-intake"


def audit_intake(org: str) -> str:
    """Value-use audit intake subject of one organization (contract C1)."""
    return f"{ROOT}.auditintake.{org}"


def secret_event(change: str, org: str) -> str:
    """Change event subject: ``sigil.events.secret.{created,updated,deleted}.<org>``."""
    return f"{ROOT}.events.secret.{change}.{org}"


def logs_raw(org: str, deployment: str) -> str:
    """Raw log lines of one deployment (into the redactor's work queue)."""
    return f"{ROOT}.logs.raw.{org}.{deployment}"


def logs_raw_parts(subject: str) -> tuple[str, str] | None:
    """(org, deployment) of a raw log subject, or None if it is not one."""
    parts = subject.split(".")
    if len(parts) != 5 or parts[:3] != [ROOT, "logs", "raw"]:
        return None
    return parts[3], parts[4]


def logs_redacted(org: str, deployment: str) -> str:
    """Redacted log lines of one deployment."""
    return f"{ROOT}.logs.redacted.{org}.{deployment}"


# JetStream names
AUDIT_STREAM: Final = "SIGIL_AUDIT"
SECRETS_BUCKET: Final = "sigil-secrets"
RECEIPTS_BUCKET: Final = "sigil-receipts"
LOGS_RAW_STREAM: Final = "SIGIL_LOGS_RAW"
LOGS_REDACTED_STREAM: Final = "SIGIL_LOGS_REDACTED"
REDACTOR_DURABLE: Final = "sigil-redactor"


def generation_key(org: str) -> str:
    """KV key (secrets bucket) of an organization's scope generation (contract C2)."""
    return f"g.{org}"


def audit_anchor_key(org: str) -> str:
    """KV key (secrets bucket) of an organization's audit head anchor (last position, link)."""
    return f"a.{org}"


def inbox_prefix(user: str) -> str:
    """The private reply-inbox prefix of one NATS user (it may subscribe only below it)."""
    return f"_INBOX.{user}"


def kv_stream(bucket: str) -> str:
    """Name of the stream behind a KV bucket."""
    return f"KV_{bucket}"
