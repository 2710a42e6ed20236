"""Per-user NATS permissions, derived from the bus and stream declarations (never by hand).

Each user may publish the commands it is a declared caller of and the events it is a
declared publisher of; subscribe to the commands it owns, the events it is a declared
subscriber of, and its own reply inbox ``_INBOX.<user>.>``; and use only the JetStream API
calls its stream ``access`` entries name (stream info only where listing every subject of
the stream tells it nothing new: ``streams.lists_subjects``). Replies to commands flow through
``allow_responses``. No runtime user may manage streams (create, update, delete, purge),
delete messages, or delete a consumer; only ``bootstrap`` (the setup step) may.
"""

from dataclasses import dataclass, field

from sigil_shared import subjects as s
from sigil_shared.operations import COMMANDS, EVENTS, USERS, User
from sigil_shared.streams import Access, StreamSpec, lists_subjects, used_by

_API = "$JS.API"


@dataclass(frozen=True)
class Permissions:
    """What one NATS user may publish and subscribe to."""

    publish: list[str]
    subscribe: list[str]
    deny_publish: list[str] = field(default_factory=list)
    deny_subscribe: list[str] = field(default_factory=list)


def nats_user(name: str, password: str, perms: Permissions) -> dict[str, object]:
    """One entry of a nats-server ``authorization.users`` list: the user, its password (or
    a reference to one) and its permissions, replies allowed."""
    publish: dict[str, list[str]] = {"allow": perms.publish}
    if perms.deny_publish:
        publish["deny"] = perms.deny_publish
    subscribe: dict[str, list[str]] = {"allow": perms.subscribe}
    if perms.deny_subscribe:
        subscribe["deny"] = perms.deny_subscribe
    return {
        "user": name,
        "password": password,
        "permissions": {"publish": publish, "subscribe": subscribe, "allow_responses": True},
    }


def inbox(user: str) -> str:
    """The only inbox subjects a user may subscribe to."""
    return f"{s.inbox_prefix(user)}.>"


def _stream_api(spec: StreamSpec, user: User) -> list[str]:
    """JetStream API subjects one user needs on one stream, and nothing that manages it."""
    name = spec.name
    access = spec.access.get(user, Access())
    found = [f"{_API}.STREAM.INFO.{name}"] if lists_subjects(spec, user) else []
    if access.read:
        found += [
            f"{_API}.STREAM.MSG.GET.{name}",
            f"{_API}.DIRECT.GET.{name}",
            f"{_API}.DIRECT.GET.{name}.>",
            # Unnamed ephemeral consumers for scans and ordered reads; the server removes
            # them once idle, so no consumer-delete right is needed.
            f"{_API}.CONSUMER.CREATE.{name}",
            f"{_API}.CONSUMER.INFO.{name}.*",
        ]
    for durable in access.durables:
        found += [
            f"{_API}.CONSUMER.DURABLE.CREATE.{name}.{durable}",
            f"{_API}.CONSUMER.CREATE.{name}.{durable}",
            f"{_API}.CONSUMER.CREATE.{name}.{durable}.>",
            f"{_API}.CONSUMER.INFO.{name}.{durable}",
            f"{_API}.CONSUMER.MSG.NEXT.{name}.{durable}",
            f"$JS.ACK.{name}.{durable}.>",
        ]
    if spec.bucket is not None:
        found += [f"{_API}.DIRECT.GET.{name}.$KV.{spec.bucket}.{k}" for k in access.keys_read]
        found += [f"$KV.{spec.bucket}.{k}" for k in access.keys_write]
    return found


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def user_permissions(user: User) -> Permissions:
    """The permissions of one user, from the declarations."""
    if user == "bootstrap":
        # The setup step: manages streams and buckets, nothing else (no command, no event).
        return Permissions(
            publish=[f"{_API}.>"],
            subscribe=[inbox(user)],
        )
    publish: list[str] = []
    subscribe: list[str] = []
    for op in COMMANDS:
        if user in op.callers:
            publish.append(op.subject)
        if user == op.owner:
            subscribe.append(op.subject)
    for event in EVENTS:
        if user in event.publishers:
            publish.append(event.pattern)
        if user in event.subscribers:
            subscribe.append(event.pattern)
    # A stream the user only publishes into gets stream info alone (its readiness check),
    # when it is the stream's only publisher.
    jetstream = [api for spec in used_by(user) for api in _stream_api(spec, user)]
    if jetstream:
        publish += [f"{_API}.INFO", *jetstream]
    subscribe.append(inbox(user))
    return Permissions(publish=_dedupe(publish), subscribe=_dedupe(subscribe))


def service_permissions() -> dict[str, Permissions]:
    """The permission table for every NATS user (services, platform, bootstrap)."""
    return {user: user_permissions(user) for user in USERS}
