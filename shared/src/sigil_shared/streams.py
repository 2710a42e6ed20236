"""The JetStream streams and KV buckets, declared once: configuration and who may use them.

The setup step (``sigil init`` / ``sigil up``, or a bootstrap job in production) creates
and updates them from this table with the ``bootstrap`` user; the NATS permission table
derives each runtime user's JetStream API rights from the ``access`` entries; and every
service checks at start (and in its readiness) that the streams it uses exist and are
configured as declared, instead of creating or "fixing" them with runtime rights.

Stream info lists every subject of a stream when asked with ``subjects_filter`` (on the
secrets bucket: every organization, customer organization, key name and secret id), and
NATS permissions cannot look into a request's payload. So it is granted only to a user that
may read every message of the stream anyway or published every one of them
(``lists_subjects``); a user that may only get some keys proves the stream is there with a
direct get of one of those keys instead (``probe_subject``).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Final

from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import Error as JsError
from nats.js.errors import NotFoundError

from sigil_shared import subjects as s
from sigil_shared.audit_stream import (
    audit_intake_stream_config,
    audit_stream_config,
    dropping_problems,
)
from sigil_shared.operations import EVENTS, User

log = logging.getLogger("sigil.streams")
_MAX_RECORD = 1024 * 1024
_HEADROOM = 64 * 1024
_DUPLICATE_WINDOW = 120.0


@dataclass(frozen=True)
class Access:
    """What one runtime user may do on one stream (beyond publishing declared events).

    ``read``: stream info, message get and short-lived ephemeral consumers (scans, ordered
    reads); ``durables``: the durable consumers it creates, pulls from and acks (and stream
    info); ``keys_read`` / ``keys_write``: KV key patterns it may get (direct get only) or
    write, and nothing else: no stream info, which would list every key of the bucket.
    """

    read: bool = False
    durables: tuple[str, ...] = ()
    keys_read: tuple[str, ...] = ()
    keys_write: tuple[str, ...] = ()


@dataclass(frozen=True)
class StreamLimits:
    """The operator-tunable limits of the log streams (``sigil init`` settings)."""

    raw_max_age: float = 3600.0
    redacted_max_age: float = 7 * 24 * 3600.0
    redacted_max_bytes: int = -1


@dataclass(frozen=True)
class StreamSpec:
    """One stream (or KV bucket, ``bucket`` set) and its safety-relevant configuration.

    ``lossless`` streams must never drop a message: no message, byte, age or per-subject
    limit, discard ``new``, delete, purge and rollup denied. Readiness checks those fields
    on the live stream, so a stream changed to drop events makes its users not ready.
    """

    name: str
    subjects: tuple[str, ...]
    description: str
    access: dict[User, Access]
    retention: RetentionPolicy = RetentionPolicy.LIMITS
    discard: DiscardPolicy = DiscardPolicy.OLD
    deny_delete: bool = True
    deny_purge: bool = True
    allow_rollup_hdrs: bool = False
    allow_direct: bool = False
    #: Atomic batch publishes (the audit chain's group commit: one batch per round trip).
    allow_atomic: bool = False
    lossless: bool = False
    max_msgs_per_subject: int = -1
    max_msg_size: int = -1
    bucket: str | None = None
    #: The full configuration, where its owner's module defines it (the audit streams).
    build: Callable[[int], StreamConfig] | None = None

    def config(self, *, replicas: int, limits: StreamLimits) -> StreamConfig:
        """The nats-py configuration the setup step applies."""
        if self.build is not None:
            return self.build(replicas)
        max_age = 0.0
        max_bytes = -1
        if self.name == s.LOGS_RAW_STREAM:
            max_age = limits.raw_max_age
        elif self.name == s.LOGS_REDACTED_STREAM:
            max_age, max_bytes = limits.redacted_max_age, limits.redacted_max_bytes
        return StreamConfig(
            name=self.name,
            description=self.description,
            subjects=list(self.subjects),
            retention=self.retention,
            storage=StorageType.FILE,
            num_replicas=replicas,
            discard=self.discard,
            max_msgs=-1,
            max_bytes=max_bytes,
            max_age=max_age,
            max_msgs_per_subject=self.max_msgs_per_subject,
            max_msg_size=self.max_msg_size,
            duplicate_window=_DUPLICATE_WINDOW,
            deny_delete=self.deny_delete,
            deny_purge=self.deny_purge,
            allow_rollup_hdrs=self.allow_rollup_hdrs,
            allow_direct=self.allow_direct,
            allow_atomic=self.allow_atomic or None,
        )


def _kv(bucket: str, description: str, access: dict[User, Access]) -> StreamSpec:
    """A KV bucket as nats-py lays it out (history 1), with direct gets for key reads."""
    return StreamSpec(
        name=s.kv_stream(bucket),
        subjects=(f"$KV.{bucket}.>",),
        description=description,
        access=access,
        discard=DiscardPolicy.NEW,
        deny_delete=True,
        deny_purge=False,
        allow_rollup_hdrs=True,
        allow_direct=True,
        max_msgs_per_subject=1,
        bucket=bucket,
    )


STREAMS: Final[tuple[StreamSpec, ...]] = (
    StreamSpec(
        name=s.AUDIT_STREAM,
        subjects=(s.AUDIT_ALL,),
        description="Sigil audit events (append-only, keyed chain per organization)",
        access={"secrets": Access(read=True)},
        discard=DiscardPolicy.NEW,
        allow_atomic=True,
        lossless=True,
        build=lambda replicas: audit_stream_config(replicas=replicas),
    ),
    StreamSpec(
        name=s.AUDIT_INTAKE_STREAM,
        subjects=(s.AUDIT_INTAKE_ALL,),
        description="Value-use events waiting to be appended to the audit chain",
        access={"secrets": Access(durables=(s.AUDIT_INTAKE_DURABLE,))},
        retention=RetentionPolicy.WORK_QUEUE,
        discard=DiscardPolicy.NEW,
        lossless=True,
        build=lambda replicas: audit_intake_stream_config(replicas=replicas),
    ),
    StreamSpec(
        name=s.LOGS_RAW_STREAM,
        subjects=(s.LOGS_RAW_ALL,),
        description="Raw deployment log records waiting for redaction (work queue)",
        access={"redactor": Access(durables=(s.REDACTOR_DURABLE,))},
        retention=RetentionPolicy.WORK_QUEUE,
        max_msg_size=_MAX_RECORD + _HEADROOM,
    ),
    StreamSpec(
        name=s.LOGS_REDACTED_STREAM,
        subjects=(s.LOGS_REDACTED_ALL,),
        description="Redacted deployment log records",
        access={"redactor": Access(read=True)},
    ),
    _kv(
        s.SECRETS_BUCKET,
        "Sigil secrets (encrypted values, metadata, indexes, scope generations)",
        {
            "secrets": Access(read=True, keys_write=(">",)),
            # Contract C2: the renderer reads only the per-organization generation keys.
            "renderer": Access(keys_read=(s.generation_key("*"),)),
            # ... and so does the redactor: a matcher older than them is rebuilt first.
            "redactor": Access(keys_read=(s.generation_key("*"),)),
        },
    ),
    _kv(
        s.RECEIPTS_BUCKET,
        "Sigil render receipts: (key, scope, version) triples, never values",
        {
            "renderer": Access(read=True, keys_write=(">",)),
            "redactor": Access(read=True),
        },
    ),
)

#: Fields every stream must hold as declared (a wrong one breaks a service or a rule).
_CHECKED = ("retention", "deny_delete", "deny_purge", "allow_direct")


def stream(name: str) -> StreamSpec:
    """The declaration of one stream by name."""
    for spec in STREAMS:
        if spec.name == name:
            return spec
    msg = f"undeclared stream {name}"
    raise KeyError(msg)


#: Key token of the readiness probe of a user that may only get some keys: never an id (ids
#: start with a letter or digit), so the probe finds no message and reads nothing.
_PROBE_ID = "_ready"


def _access(spec: StreamSpec, user: str) -> Access:
    return next((a for name, a in spec.access.items() if name == user), Access())


def lists_subjects(spec: StreamSpec, user: str) -> bool:
    """Whether ``user`` may have stream info (which lists every subject) of the stream.

    Only when that tells it nothing new: it may read every message anyway (``read``, or a
    durable over the stream, whose filter is its choice), or it is the only publisher of
    the events stored there (every subject is one it published).
    """
    access = _access(spec, user)
    if access.read or access.durables:
        return True
    if access.keys_read or access.keys_write:
        return False
    publishers = {p for e in EVENTS if e.stream == spec.name for p in e.publishers}
    return publishers == {user}


def probe_subject(spec: StreamSpec, user: str) -> str | None:
    """The KV subject a user that may not list the stream gets directly to check it is there
    (a key it may read, with a token no id has); None when it may get no key at all."""
    access = _access(spec, user)
    if spec.bucket is None or not access.keys_read:
        return None
    tokens = [_PROBE_ID if t in ("*", ">") else t for t in access.keys_read[0].split(".")]
    return f"$KV.{spec.bucket}.{'.'.join(tokens)}"


def used_by(user: str) -> list[StreamSpec]:
    """The streams one user works with: those it has access to and those its declared
    events are stored in (its readiness depends on all of them)."""
    publishes = {e.stream for e in EVENTS if e.stream is not None and user in e.publishers}
    return [spec for spec in STREAMS if user in spec.access or spec.name in publishes]


def _value(config: StreamConfig, name: str) -> object:
    value = getattr(config, name, None)
    defaults: dict[str, object] = {
        "max_msgs": -1,
        "max_bytes": -1,
        "max_age": 0.0,
        "max_msgs_per_subject": -1,
        "sealed": False,
        "deny_delete": False,
        "deny_purge": False,
        "allow_rollup_hdrs": False,
        "allow_direct": False,
    }
    if value is None:
        return defaults.get(name)
    return value


def config_problems(spec: StreamSpec, live: StreamConfig) -> list[str]:
    """How a live stream's configuration departs from its declaration (empty: as declared)."""
    problems: list[str] = []
    if sorted(live.subjects or []) != sorted(spec.subjects):
        problems.append(f"subjects are {live.subjects}, declared {list(spec.subjects)}")
    declared = spec.config(replicas=1, limits=StreamLimits())
    for name in _CHECKED:
        want, have = _value(declared, name), _value(live, name)
        if want != have:
            problems.append(f"{name} is {have}, declared {want}")
    if spec.lossless:
        problems += dropping_problems(live)
        if live.sealed:
            problems.append("the stream is sealed (it accepts no events)")
    return problems


async def check_streams(js: JetStreamContext, user: str) -> dict[str, str]:
    """Readiness entries ``stream <name>`` -> ``ok`` or what is missing or misconfigured."""
    checks: dict[str, str] = {}
    for spec in used_by(user):
        key = f"stream {spec.name}"
        if not lists_subjects(spec, user):
            checks[key] = await _probe(js, spec, user)
            continue
        try:
            info = await js.stream_info(spec.name)
        except NotFoundError:
            checks[key] = "missing: run the setup step (sigil init)"
            continue
        except (JsError, TimeoutError) as err:
            checks[key] = f"unavailable ({type(err).__name__})"
            continue
        problems = config_problems(spec, info.config)
        checks[key] = "ok" if not problems else "; ".join(problems)
    return checks


async def _probe(js: JetStreamContext, spec: StreamSpec, user: str) -> str:
    """Readiness of a stream the user may not list: a direct get of a key it may read.

    "No message" proves as well as a message that the stream is there and answers direct
    gets; nobody answering means it is missing (or has direct gets off). Its configuration
    is checked by the users that may list it (the bucket's owner).
    """
    subject = probe_subject(spec, user)
    if subject is None:
        return "not checked: this user may neither list the stream nor get a key of it"
    try:
        await js.get_msg(spec.name, subject=subject, direct=True)
    except NotFoundError:
        return "ok"
    except NoRespondersError:
        # Or its direct gets are off: the setup step fixes either.
        return "missing: run the setup step (sigil init)"
    except (JsError, NatsError, TimeoutError) as err:
        return f"unavailable ({type(err).__name__})"
    return "ok"


async def streams_ready(js: JetStreamContext, user: str) -> bool:
    """Check a service's streams at start; log what the setup step must fix (never fix it)."""
    problems = {k: v for k, v in (await check_streams(js, user)).items() if v != "ok"}
    for name, problem in problems.items():
        log.error("%s: %s; not ready (streams belong to the setup step: sigil init)", name, problem)
    return not problems


async def bootstrap(
    js: JetStreamContext, *, replicas: int = 1, limits: StreamLimits | None = None
) -> list[str]:
    """Create every declared stream and bucket, or update it to its declaration.

    Runs with the ``bootstrap`` user before services start; returns what it did.
    """
    limits = limits or StreamLimits()
    done: list[str] = []
    for spec in STREAMS:
        config = spec.config(replicas=replicas, limits=limits)
        try:
            info = await js.stream_info(spec.name)
        except NotFoundError:
            await js.add_stream(config)
            done.append(f"created {spec.name}")
            continue
        if _differs(info.config, config):
            await js.update_stream(config)
            done.append(f"updated {spec.name}")
    return done


def _differs(live: StreamConfig, want: StreamConfig) -> bool:
    """True when a field the declaration sets has another value on the live stream."""
    for item in fields(StreamConfig):
        wanted = getattr(want, item.name)
        if wanted is None or item.name in {"description"}:
            continue
        have = _value(live, item.name)
        if isinstance(wanted, list):
            if sorted(wanted) != sorted(have or []):  # type: ignore[call-overload]
                return True
        elif have != wanted:
            return True
    return False
