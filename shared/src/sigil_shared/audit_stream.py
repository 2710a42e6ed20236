"""The audit streams' required configuration, and what in a live configuration could drop events.

Used by the setup step that creates the streams, by the secrets service's readiness check
and by ``sigil audit verify``, so all three agree on what "durable" means.
"""

from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from sigil_shared import subjects
from sigil_shared.contracts.audit import MAX_VALUE_USE_MESSAGE_BYTES

#: Seconds within which a re-sent event (same ``Nats-Msg-Id``) is stored only once.
DUPLICATE_WINDOW = 120.0


def audit_stream_config(*, name: str = subjects.AUDIT_STREAM, replicas: int = 1) -> StreamConfig:
    """The audit stream: append-only, no limits, refuses rather than drops, atomic batches."""
    return StreamConfig(
        name=name,
        subjects=[subjects.AUDIT_ALL],
        storage=StorageType.FILE,
        num_replicas=replicas,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.NEW,
        deny_delete=True,
        deny_purge=True,
        allow_rollup_hdrs=False,
        allow_msg_ttl=False,
        # Group commit: one atomic batch per organization per round trip.
        allow_atomic=True,
        duplicate_window=DUPLICATE_WINDOW,
        description="Sigil audit events (append-only, HMAC-chained per organization)",
    )


#: Room for an intake message's headers above its body.
INTAKE_HEADROOM = 16 * 1024


def audit_intake_stream_config(*, replicas: int = 1) -> StreamConfig:
    """The value-use intake (contract C1): a work queue nothing may delete or purge."""
    return StreamConfig(
        name=subjects.AUDIT_INTAKE_STREAM,
        subjects=[subjects.AUDIT_INTAKE_ALL],
        storage=StorageType.FILE,
        num_replicas=replicas,
        retention=RetentionPolicy.WORK_QUEUE,
        discard=DiscardPolicy.NEW,
        deny_delete=True,
        deny_purge=True,
        allow_rollup_hdrs=False,
        allow_msg_ttl=False,
        duplicate_window=DUPLICATE_WINDOW,
        # The renderer sends at most MAX_VALUE_USE_MESSAGE_BYTES per message; anything larger
        # is refused here rather than handed to the secrets service.
        max_msg_size=MAX_VALUE_USE_MESSAGE_BYTES + INTAKE_HEADROOM,
        description="Sigil value-use audit intake (renderer -> secrets service audit chain)",
    )


def _limited(value: float | None) -> bool:
    return value is not None and value > 0


def dropping_problems(config: StreamConfig) -> list[str]:
    """Each setting of a stream configuration that would let stored events be dropped."""
    problems: list[str] = []
    for name, value in (
        ("max_msgs", config.max_msgs),
        ("max_bytes", config.max_bytes),
        ("max_age", config.max_age),
        ("max_msgs_per_subject", config.max_msgs_per_subject),
    ):
        if _limited(value):
            problems.append(f"{name} limit {value:g} drops or refuses events (must be unlimited)")
    if config.discard != DiscardPolicy.NEW:
        problems.append("discard policy 'old' drops the oldest events at any limit")
    if not config.deny_delete:
        problems.append("deny_delete is off (events can be deleted)")
    if not config.deny_purge:
        problems.append("deny_purge is off (the stream can be purged)")
    if config.allow_rollup_hdrs:
        problems.append("allow_rollup_hdrs is on (a rollup message purges earlier events)")
    if config.allow_msg_ttl:
        problems.append("allow_msg_ttl is on (a publisher can make events expire)")
    return problems
