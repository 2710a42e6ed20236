"""Per-service NATS users and their subject permissions (ARCHITECTURE.md, 'Security rules')."""

from dataclasses import dataclass, field

from sigil_shared import subjects as s

INBOX: str = "_INBOX.>"


def _stream_api(stream: str) -> list[str]:
    """JetStream API subjects needed to use (create, read, write, consume) one stream."""
    return [
        "$JS.API.INFO",
        f"$JS.API.STREAM.*.{stream}",
        f"$JS.API.STREAM.MSG.*.{stream}",
        f"$JS.API.DIRECT.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.>",
        f"$JS.API.CONSUMER.*.{stream}",
        f"$JS.API.CONSUMER.*.{stream}.>",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.>",
        f"$JS.ACK.{stream}.>",
    ]


def _stream_read_api(stream: str) -> list[str]:
    """Read-only use of a stream: info, message get, and consumers to scan it."""
    return [
        "$JS.API.INFO",
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.STREAM.MSG.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.>",
        f"$JS.API.CONSUMER.*.{stream}",
        f"$JS.API.CONSUMER.*.{stream}.>",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.>",
    ]


def _kv_api(bucket: str) -> list[str]:
    return [*_stream_api(s.kv_stream(bucket)), f"$KV.{bucket}.>"]


@dataclass(frozen=True)
class Permissions:
    """What one NATS user may publish and subscribe to."""

    publish: list[str]
    subscribe: list[str]
    deny_publish: list[str] = field(default_factory=list)
    deny_subscribe: list[str] = field(default_factory=list)


def service_permissions() -> dict[str, Permissions]:
    """The permission table for every service user, plus the platform publisher.

    Only the renderer may ask for values to render and only the redactor for values to
    redact; the gateway may use neither. Replies go through ``allow_responses``.
    """
    own_commands = {svc: f"sigil.{svc}.>" for svc in s.SERVICES}
    return {
        "secrets": Permissions(
            publish=[
                s.AUDIT_ALL,
                s.SECRET_EVENTS_ALL,
                s.RECEIPT_IMPACT,
                *_kv_api(s.SECRETS_BUCKET),
                *_stream_api(s.AUDIT_STREAM),
                INBOX,
            ],
            subscribe=[own_commands["secrets"], s.health("secrets"), INBOX],
        ),
        "renderer": Permissions(
            publish=[
                s.SECRET_RESOLVE,
                s.RECEIPT_EVENTS_ALL,
                *_kv_api(s.RECEIPTS_BUCKET),
                INBOX,
            ],
            subscribe=[own_commands["renderer"], s.health("renderer"), INBOX],
        ),
        "redactor": Permissions(
            publish=[
                s.SECRET_REDACTION_VALUES,
                s.LOGS_REDACTED_ALL,
                *_stream_api(s.LOGS_RAW_STREAM),
                *_stream_api(s.LOGS_REDACTED_STREAM),
                *_stream_read_api(s.kv_stream(s.RECEIPTS_BUCKET)),
                INBOX,
            ],
            subscribe=[
                own_commands["redactor"],
                s.health("redactor"),
                s.SECRET_EVENTS_ALL,
                s.RECEIPT_EVENTS_ALL,
                INBOX,
            ],
        ),
        "gateway": Permissions(
            publish=[
                "sigil.secrets.secret.>",
                "sigil.secrets.audit.>",
                "sigil.renderer.template.validate",
                s.LOGS_PAGE,
                "sigil.health.*",
                INBOX,
            ],
            subscribe=[INBOX, s.LOGS_REDACTED_ALL],
            deny_publish=[s.SECRETS_INTERNAL_ALL],
        ),
        "platform": Permissions(
            publish=[s.LOGS_RAW_ALL, "sigil.renderer.>", "sigil.health.*", INBOX],
            subscribe=[INBOX, s.AUDIT_ALL, s.SECRET_EVENTS_ALL, s.RECEIPT_EVENTS_ALL],
            deny_publish=[s.SECRETS_INTERNAL_ALL],
        ),
    }
