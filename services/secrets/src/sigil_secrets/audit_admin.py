"""Operator tasks on the audit chain: verification, and audit records of key rotations.

Key rotations are audited once per ``sigil keys rotate`` run, in the operator chain
(``OPERATOR_CHAIN``), not once per organization: a run re-wraps every organization's
data keys at once and the KEK is shared. The event is written *before* anything
changes, so a rotation that cannot be audited does not happen.
"""

import contextlib
import getpass
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import nats
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import Error as JsError
from nats.js.errors import NotFoundError

from sigil_secrets.adapters.js_audit import JetStreamAuditLog, read_anchor
from sigil_secrets.adapters.keyring_source import KeyringSource
from sigil_secrets.domain.audit_chain import (
    ChainReport,
    ChainVerifier,
    StoredEvent,
    anchored_position,
    check_anchor,
)
from sigil_secrets.domain.crypto import Keyring
from sigil_shared import subjects
from sigil_shared.audit_stream import dropping_problems
from sigil_shared.contracts import OPERATOR_CHAIN, AuditEvent, AuditOutcome, Role
from sigil_shared.errors import AuditUnavailableError
from sigil_shared.settings import SecretsSettings

#: Admin commands fail within seconds when NATS does not answer.
CONNECT_TIMEOUT = 3.0
_READ_TIMEOUT = 5.0


class AuditAdminError(Exception):
    """NATS or the audit stream could not be reached or read."""


def audit_keyring(settings: SecretsSettings) -> KeyringSource:
    """The audit keyring from ``SIGIL_AUDIT_KEY`` or ``SIGIL_AUDIT_KEY_FILE``."""
    inline = settings.audit_key.get_secret_value() if settings.audit_key else None
    return KeyringSource(inline=inline, path=None if inline else settings.audit_key_file)


async def connect(settings: SecretsSettings) -> NatsClient:
    """One short-lived connection as the configured user; AuditAdminError if unreachable."""
    password = settings.nats_password.get_secret_value() if settings.nats_password else None
    try:
        return await nats.connect(
            settings.nats_servers,
            user=settings.nats_user,
            password=password,
            name="sigil-admin",
            # Replies may come only to the user's private inbox prefix.
            inbox_prefix=subjects.inbox_prefix(settings.nats_user)
            if settings.nats_user
            else "_INBOX",
            connect_timeout=CONNECT_TIMEOUT,
            allow_reconnect=False,
            max_reconnect_attempts=0,
        )
    except (NatsError, OSError, TimeoutError) as err:
        msg = f"NATS at {settings.nats_url} is unreachable ({type(err).__name__})"
        raise AuditAdminError(msg) from err


@dataclass
class AuditVerification:
    """What ``sigil audit verify`` found: stream problems and one report per organization."""

    stream: str
    stream_problems: list[str] = field(default_factory=list)
    chains: list[ChainReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the stream cannot drop events and every chain is intact."""
        return not self.stream_problems and all(chain.intact for chain in self.chains)

    def lines(self) -> list[str]:
        """Human-readable report, one line per finding."""
        out = [f"stream {self.stream}: {problem}" for problem in self.stream_problems]
        for chain in self.chains:
            if chain.count == 0:
                out.append(f"audit chain of {chain.organization_id}: no events")
                continue
            state = "intact" if chain.intact else "BROKEN"
            out.append(
                f"audit chain of {chain.organization_id}: {chain.count} events, "
                f"sequences {chain.first_seq}..{chain.last_seq}, {state}"
            )
            out.extend(f"  {problem.kind}: {problem.message}" for problem in chain.problems)
        return out


def _org_of(subject: str) -> str:
    # sigil.audit.<org>.<action...>
    parts = subject.split(".", 3)
    return parts[2] if len(parts) > 2 else ""


async def _stored_events(
    nc: NatsClient, stream: str, filter_subject: str
) -> AsyncGenerator[StoredEvent, None]:
    """Every audit message matching ``filter_subject``, in stream order, as it arrives
    (nothing is collected: a stream of any size is read in constant memory)."""
    js = nc.jetstream()
    try:
        last = await js.get_last_msg(stream, filter_subject)
    except NotFoundError:
        return
    sub = await js.subscribe(
        filter_subject,
        stream=stream,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
    )
    try:
        while True:
            msg = await sub.next_msg(timeout=_READ_TIMEOUT)
            seq = msg.metadata.sequence.stream
            yield StoredEvent(seq, msg.subject, msg.data)
            if seq >= (last.seq or 0) or msg.metadata.num_pending == 0:
                return
    finally:
        await sub.unsubscribe()


async def verify_audit(
    settings: SecretsSettings, *, organization_id: str | None = None
) -> AuditVerification:
    """Check the audit stream's configuration and every (or one) organization's chain."""
    stream = subjects.AUDIT_STREAM
    keyring = audit_keyring(settings).get()
    nc = await connect(settings)
    result = AuditVerification(stream)
    try:
        js = nc.jetstream()
        try:
            info = await js.stream_info(stream)
        except NotFoundError:
            result.stream_problems.append("missing (deleted, or never set up)")
            return result
        result.stream_problems.extend(dropping_problems(info.config))
        state = info.state
        if state.first_seq > 1:
            result.stream_problems.append(
                f"starts at sequence {state.first_seq}: {state.first_seq - 1} "
                "earlier events were dropped"
            )
        if state.num_deleted:
            result.stream_problems.append(f"{state.num_deleted} events were deleted")
        filter_subject = (
            subjects.audit_org(organization_id) if organization_id else subjects.AUDIT_ALL
        )
        # Anchors first: each names a position already in the stream, whose link is then
        # the only one kept while the chain streams past. An anchored organization
        # without a single event lost its whole chain.
        orgs = [organization_id] if organization_id else await _anchored_orgs(nc)
        anchors = {org: await read_anchor(nc.jetstream(), org) for org in orgs}
        chains = {org: _verifier(org, anchors[org], keyring) for org in orgs}
        async with contextlib.aclosing(_stored_events(nc, stream, filter_subject)) as items:
            async for item in items:
                org = _org_of(item.subject)
                if org not in chains:
                    chains[org] = _verifier(org, None, keyring)
                chains[org].add(item)
        for org in sorted(chains):
            anchor = anchors[org] if org in anchors else await read_anchor(nc.jetstream(), org)
            check_anchor(chains[org].report, anchor, keyring=keyring)
            result.chains.append(chains[org].report)
    except (JsError, NatsError, TimeoutError) as err:
        msg = f"audit stream {stream} could not be read ({type(err).__name__})"
        raise AuditAdminError(msg) from err
    finally:
        await nc.close()
    return result


def _verifier(org: str, anchor: bytes | None, keyring: Keyring) -> ChainVerifier:
    return ChainVerifier(
        org,
        keyring=keyring,
        subject_prefix=subjects.audit_org(org)[:-1],
        keep_link=anchored_position(org, anchor, keyring=keyring),
    )


_ANCHORS = f"$KV.{subjects.SECRETS_BUCKET}."


async def _anchored_orgs(nc: NatsClient) -> list[str]:
    """Organizations that have a head anchor in the secrets bucket."""
    info = await nc.jetstream().stream_info(
        subjects.kv_stream(subjects.SECRETS_BUCKET),
        subjects_filter=_ANCHORS + subjects.audit_anchor_key("*"),
    )
    prefix = _ANCHORS + subjects.audit_anchor_key("")
    return sorted(name.removeprefix(prefix) for name in (info.state.subjects or {}))


def _operator() -> str:
    try:
        return f"operator:{getpass.getuser()}"
    except (KeyError, OSError):
        return "operator"


async def record_rotation(settings: SecretsSettings, details: dict[str, str]) -> AuditEvent:
    """Append one ``keys.rotate`` event to the operator chain; AuditAdminError if refused.

    ``details`` says what is rotated (key ids and mode, never key material).
    """
    event = AuditEvent(
        id=uuid.uuid4().hex,
        organization_id=OPERATOR_CHAIN,
        actor_id=_operator(),
        actor_role=Role.ADMIN,
        actor_customer_organization_id=None,
        action="keys.rotate",
        request_id=uuid.uuid4().hex,
        outcome=AuditOutcome.SUCCESS,
        at=datetime.now(UTC),
        details=details,
        prev_hash="",
    )
    nc = await connect(settings)
    try:
        log = JetStreamAuditLog(
            nc, nc.jetstream(), stream=subjects.AUDIT_STREAM, keyring=audit_keyring(settings)
        )
        stored = await log.append(event)
        await log.close()  # its head anchor too, before the connection goes
        return stored
    except AuditUnavailableError as err:
        msg = "the rotation could not be audited, so nothing was changed"
        raise AuditAdminError(msg) from err
    finally:
        await nc.close()


async def acknowledge_lost_head(
    settings: SecretsSettings, organization_id: str
) -> AuditEvent | None:
    """Acknowledge, as the operator, events cut from the end of one organization's chain
    (its changes are refused until then): an ``audit.head_lost`` event recording the
    anchored and the stored position is appended, and verify keeps naming the loss. None
    when nothing was cut; AuditAdminError when NATS or the audit stream cannot be used."""
    nc = await connect(settings)
    try:
        log = JetStreamAuditLog(
            nc, nc.jetstream(), stream=subjects.AUDIT_STREAM, keyring=audit_keyring(settings)
        )
        stored = await log.acknowledge_lost_head(organization_id, actor_id=_operator())
        await log.close()  # its head anchor too, before the connection goes
        return stored
    except AuditUnavailableError as err:
        msg = f"the loss could not be recorded in the audit chain ({err.message})"
        raise AuditAdminError(msg) from err
    finally:
        await nc.close()
