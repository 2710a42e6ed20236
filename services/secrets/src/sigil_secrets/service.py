"""The secrets service: authorization, validation, encryption, storage and audit, in order."""

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Literal, NoReturn

from opentelemetry import trace

from sigil_secrets.adapters.keyring_source import KeyringSource
from sigil_secrets.domain import listing, policy
from sigil_secrets.domain.crypto import open_envelope, record_aad, seal
from sigil_secrets.domain.model import SecretRecord, VersionMeta, history_full_of_pins
from sigil_secrets.domain.redaction import SetChangedError, redaction_page
from sigil_secrets.domain.scope import deployment_secrets
from sigil_secrets.domain.validation import check_key, check_value, too_short_to_mask
from sigil_secrets.errors import KeyTakenError, PinnedVersionGoneError, StaleRevisionError
from sigil_secrets.ports import (
    AuditLog,
    EventPublisher,
    GenerationMarker,
    ImpactSource,
    SecretStore,
)
from sigil_shared.contracts import (
    Actor,
    AffectedDeployment,
    AuditEvent,
    AuditOutcome,
    AuditQueryReply,
    AuditQueryRequest,
    PinnedVersion,
    RedactionValuesReply,
    RedactionValuesRequest,
    ResolvedSecret,
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
)
from sigil_shared.errors import (
    AuditUnavailableError,
    ConflictError,
    InvalidRequestError,
    SigilError,
    UnavailableError,
    VersionConflictError,
)

log = logging.getLogger("sigil.secrets")
_TRACER = trace.get_tracer("sigil.secrets")

_UPDATE_ATTEMPTS = 12
#: Upper bound of the random pause before retrying a lost version race (seconds, grows).
_RETRY_PAUSE = 0.005
Undo = Callable[[], Awaitable[None]]
Change = Literal["created", "updated", "deleted"]


#: An audit query page holds events up to this many bytes of JSON (then ``nextCursor``),
#: even if fewer than ``limit``: the reply must fit one bus message.
AUDIT_PAGE_BYTES = 1024 * 1024
#: An event alone larger than this (it cannot be one bus message's reply) is served with its
#: ``keys`` cut to fit and ``details.truncated`` saying so. The app sets it from the
#: connection's max_payload; this default suits NATS's own 1 MiB default.
AUDIT_EVENT_BYTES = 1024 * 1024 - 16 * 1024
#: An audit query page looks at this many events at most (then ``nextCursor``, even with
#: no item yet): a filter that matches little must not make one request read (and check
#: the link of) every event an organization ever had.
AUDIT_SCAN_EVENTS = 5_000
#: ... and scans for this many seconds at most: events can be large (a validation names up
#: to 2,000 keys), and a caller gives up after its request timeout (5 s by default).
AUDIT_SCAN_SECONDS = 0.5
#: A replaced or deleted value stays in the redactor's mask set this long: the raw log
#: stream's default max age (a raw line waits at most that long to be redacted).
MASK_REPLACED_FOR = timedelta(hours=1)
#: A redaction-values reply holds values up to this many bytes of JSON, then ``nextAfter``
#: (an organization's values and recent versions can be far more than one bus message).
#: The app sets it from the connection's max_payload.
REDACTION_PAGE_BYTES = 1024 * 1024 - 64 * 1024


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _shortened(event: AuditEvent, most: int) -> tuple[AuditEvent, int]:
    """``event`` within ``most`` bytes of JSON: its first ``keys`` that fit, and a marker in
    ``details`` (the stored event is whole; this copy's ``hash`` does not verify)."""
    keys = event.keys or []
    marker = {
        **(event.details or {}),
        "truncated": f"this copy lists {{kept}} of {len(keys)} keys to fit one reply; "
        "the stored event is complete (sigil audit verify reads it)",
    }
    shown = event.model_copy(update={"keys": [], "details": marker})
    size = len(shown.model_dump_json()) + 1
    kept = 0
    for key in keys:
        extra = len(key.model_dump_json()) + 1
        if size + extra > most:
            break
        size += extra
        kept += 1
    marker["truncated"] = marker["truncated"].format(kept=kept)
    update = {"keys": keys[:kept] if event.keys is not None else None, "details": marker}
    return event.model_copy(update=update), size


def _trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


class SecretsService:
    """Every command of the secrets service; handlers only translate messages to calls."""

    def __init__(
        self,
        *,
        store: SecretStore,
        audit: AuditLog,
        events: EventPublisher,
        keyring: KeyringSource,
        generation: GenerationMarker,
        impact: ImpactSource | None = None,
        history: int = 32,
        min_mask_length: int = 4,
        deleted_retention: timedelta = timedelta(days=30),
        clock: Callable[[], datetime] = _utcnow,
        audit_page_bytes: int = AUDIT_PAGE_BYTES,
        audit_event_bytes: int = AUDIT_EVENT_BYTES,
        audit_scan_events: int = AUDIT_SCAN_EVENTS,
        audit_scan_seconds: float = AUDIT_SCAN_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        mask_replaced_for: timedelta = MASK_REPLACED_FOR,
        redaction_page_bytes: int = REDACTION_PAGE_BYTES,
    ) -> None:
        self._store = store
        self._redaction_page_bytes = redaction_page_bytes
        self._mask_replaced_for = mask_replaced_for
        self._audit_scan_events = audit_scan_events
        self._audit_scan_seconds = audit_scan_seconds
        self._monotonic = monotonic
        self._audit_page_bytes = audit_page_bytes
        self._audit_event_bytes = audit_event_bytes
        self._audit = audit
        self._events = events
        self._keyring = keyring
        self._generation = generation
        self._impact = impact
        self._history = history
        self._min_mask = min_mask_length
        self._retention = deleted_retention
        self._clock = clock

    # -- audit -----------------------------------------------------------------

    def _event(
        self,
        actor: Actor,
        request_id: str,
        action: str,
        *,
        outcome: AuditOutcome,
        record: SecretRecord | None = None,
        key: str | None = None,
        scope: str | None = None,
        error: SigilError | None = None,
    ) -> AuditEvent:
        return AuditEvent(
            id=uuid.uuid4().hex,
            organization_id=actor.organization_id,
            actor_id=actor.user_id,
            actor_role=actor.role,
            actor_customer_organization_id=actor.customer_organization_id,
            action=action,
            secret_id=record.id if record else None,
            key=record.key if record else key,
            customer_organization_id=record.customer_organization_id if record else scope,
            version=record.version if record else None,
            request_id=request_id,
            trace_id=_trace_id(),
            outcome=outcome,
            error_code=error.code.value if error else None,
            at=self._clock(),
            prev_hash="",
        )

    async def _refuse(
        self,
        req: SecretCreateRequest | SecretUpdateRequest | SecretDeleteRequest,
        action: str,
        err: SigilError,
        *,
        record: SecretRecord | None = None,
        key: str | None = None,
        scope: str | None = None,
    ) -> NoReturn:
        """Record a refusal and re-raise it; if even that cannot be written, say so instead."""
        event = self._event(
            req.actor,
            req.request_id,
            action,
            outcome=AuditOutcome.REFUSED,
            record=record,
            key=key,
            scope=scope,
            error=err,
        )
        try:
            await self._audit.append(event)
        except AuditUnavailableError as audit_err:
            raise audit_err from err
        raise err

    async def _announce(self, organization_id: str, undo: Undo) -> None:
        """Contract C2: raise the scope generation before the change is acknowledged.

        If it cannot be raised the change is undone: a renderer holding cached values
        would otherwise keep rendering the old value after the caller was told it changed.
        """
        try:
            with _TRACER.start_as_current_span("secrets.generation.advance"):
                await self._generation.advance(organization_id)
        except SigilError as err:
            await self._undo(undo, "generation", organization_id)
            msg = "the change could not be announced to renderers, so it was not applied"
            raise UnavailableError(msg) from err

    async def _undo(self, undo: Undo, why: str, organization_id: str) -> None:
        try:
            await undo()
        except SigilError:
            log.critical(
                "%s unavailable AND undo failed: a change in organization %s stays applied",
                why,
                organization_id,
            )

    async def _applied(self, event: AuditEvent, undo: Undo) -> None:
        """Record an applied change, or undo it: no change without its audit event."""
        try:
            with _TRACER.start_as_current_span("secrets.audit.append"):
                await self._audit.append(event)
        except AuditUnavailableError:
            await self._undo(undo, "audit", event.organization_id)
            try:
                # Renderers may have cached the undone value under the raised generation.
                await self._generation.advance(event.organization_id)
            except SigilError:
                log.warning("scope generation not raised after undoing an unaudited change")
            raise

    def _changed(
        self, change: Literal["created", "updated", "deleted"], record: SecretRecord, actor: Actor
    ) -> SecretChanged:
        return SecretChanged(
            change=change,
            organization_id=record.organization_id,
            customer_organization_id=record.customer_organization_id,
            id=record.id,
            key=record.key,
            version=record.version,
            actor_id=actor.user_id,
            too_short_to_mask=record.too_short_to_mask,
            at=self._clock(),
        )

    # -- commands --------------------------------------------------------------

    async def create(self, req: SecretCreateRequest) -> SecretMetadata:
        """Create version 1 of a secret in the actor's scope."""
        actor, key = req.actor, None
        try:
            policy.require_write(actor)
            scope = policy.write_scope(actor, req.customer_organization_id)
            key = check_key(req.key)
            value = check_value(req.value.get_secret_value())
            secret_id = uuid.uuid4().hex
            org = actor.organization_id
            await self._audit.writable(org)  # refused before anything is written
            try:
                with _TRACER.start_as_current_span("secrets.store.insert"):
                    first = await self._store.claim(org, scope, key, secret_id)
                    now = self._clock()
                    record = SecretRecord(
                        id=secret_id,
                        organization_id=org,
                        customer_organization_id=scope,
                        key=key,
                        version=first,
                        created_at=now,
                        created_by=actor.user_id,
                        updated_at=now,
                        updated_by=actor.user_id,
                        envelope=seal(
                            self._keyring.get(), value, record_aad(org, scope, key, first)
                        ),
                        too_short_to_mask=too_short_to_mask(value, self._min_mask),
                        versions=(VersionMeta(first, now, actor.user_id),),
                    )
                    await self._store.insert(record)
            except KeyTakenError as err:
                where = f"customer organization {scope}" if scope else "vendor scope"
                msg = f"a secret with key {key} already exists in the {where}"
                raise ConflictError(msg, details={"key": key}) from err
            await self._announce(org, lambda: self._store.discard(record))
        except SigilError as err:
            await self._refuse(req, "create", err, key=key, scope=req.customer_organization_id)
        created = self._event(
            actor, req.request_id, "create", outcome=AuditOutcome.SUCCESS, record=record
        )
        await self._applied(created, lambda: self._store.discard(record))
        await self._events.publish(self._changed("created", record, actor))
        return record.to_metadata()

    async def _load_visible(
        self, actor: Actor, secret_id: str, *, cached: bool = False
    ) -> tuple[SecretRecord, int]:
        found = await self._store.load(actor.organization_id, secret_id, cached=cached)
        record = policy.ensure_visible(actor, found[0] if found else None)
        assert found is not None
        return record, found[1]

    async def _affected_or_none(self, record: SecretRecord) -> list[AffectedDeployment] | None:
        """Live revisions rendered with this secret, or None when the renderer cannot say."""
        try:
            return await self._affected(record)
        except SigilError:
            log.debug("could not ask which deployments use secret %s", record.id)
            return None

    async def update(self, req: SecretUpdateRequest) -> SecretUpdateReply:
        """Store a new version; the previous one stays encrypted within the history bound."""
        actor, record = req.actor, None
        impact: asyncio.Task[list[AffectedDeployment] | None] | None = None
        try:
            # Scope before role: another tenant's id is 404 whatever the caller's role.
            record, revision = await self._load_visible(actor, req.id, cached=True)
            policy.require_write(actor)
            value = check_value(req.value.get_secret_value())
            await self._audit.writable(actor.organization_id)
            # Which live revisions pin which versions: needed for the reply, and before the
            # commit whenever this version would evict an older one. Asked in parallel.
            impact = asyncio.create_task(self._affected_or_none(record))
            previous, updated, new_revision = await self._commit_update(
                req, record, revision, value, impact
            )

            async def undo() -> None:
                await self._store.revert_version(previous, updated=updated, revision=new_revision)

            await self._announce(actor.organization_id, undo)
        except SigilError as err:
            if impact is not None:
                impact.cancel()
            await self._refuse(req, "update", err, record=record)
        except BaseException:
            if impact is not None:
                impact.cancel()
            raise

        event = self._event(
            actor, req.request_id, "update", outcome=AuditOutcome.SUCCESS, record=updated
        )
        try:
            await self._applied(event, undo)
        except BaseException:
            impact.cancel()
            raise
        evicted = previous.kept_versions() - updated.kept_versions()
        affected, _ = await asyncio.gather(impact, self._drop_evicted(updated, evicted))
        await self._events.publish(self._changed("updated", updated, actor))
        pinned = _pins(affected)
        return SecretUpdateReply(
            **updated.to_metadata().model_dump(),
            affected_deployments=affected,
            pinned_versions=sorted(pinned, reverse=True) if pinned is not None else None,
            history_full_of_pins=pinned is not None
            and history_full_of_pins(updated, pinned, self._history),
        )

    async def _drop_evicted(self, record: SecretRecord, versions: set[int]) -> None:
        """Remove envelopes past the bound; the change stands even if this fails (the record
        no longer lists them, so a leftover envelope is unreachable, not wrong)."""
        if not versions:
            return
        try:
            await self._store.drop_versions(record, versions)
        except SigilError:
            log.warning("evicted versions of secret %s not removed yet", record.id)

    async def _commit_update(
        self,
        req: SecretUpdateRequest,
        record: SecretRecord,
        revision: int,
        value: str,
        impact: "asyncio.Task[list[AffectedDeployment] | None]",
    ) -> tuple[SecretRecord, SecretRecord, int]:
        """Commit the next version as one store operation; on a lost race re-read and retry.

        Returns (the record it replaced, the committed record, its revision).
        """
        fresh = False  # the first read may come from this replica's (possibly stale) copy
        for attempt in range(_UPDATE_ATTEMPTS):
            if req.expected_version is not None and req.expected_version != record.version:
                if not fresh:
                    record, revision = await self._load_visible(req.actor, req.id)
                    fresh = True
                    continue
                msg = (
                    f"secret is at version {record.version}, "
                    f"not the expected {req.expected_version}"
                )
                raise VersionConflictError(msg, details={"currentVersion": record.version})
            pinned = _pins(await impact) if record.evicts(self._history) else frozenset()
            version = record.version + 1
            aad = record_aad(
                record.organization_id, record.customer_organization_id, record.key, version
            )
            updated = record.with_new_version(
                envelope=seal(self._keyring.get(), value, aad),
                at=self._clock(),
                by=req.actor.user_id,
                too_short=too_short_to_mask(value, self._min_mask),
                history=self._history,
                pinned=pinned,
            )
            try:
                with _TRACER.start_as_current_span("secrets.store.commit_version"):
                    new_revision = await self._store.commit_version(
                        updated, previous=record, expected_revision=revision
                    )
            except StaleRevisionError:
                # Re-read: with an expected version the check above then answers whether
                # the secret really moved on (a re-wrap changes the revision, not the version).
                # Spread racing writers out so each round has a clear winner.
                await asyncio.sleep(random.uniform(0, _RETRY_PAUSE * (attempt + 1)))  # noqa: S311 - jitter, not crypto
                record, revision = await self._load_visible(req.actor, req.id)
                fresh = True
                continue
            return record, updated, new_revision
        raise ConflictError("secret is being changed concurrently; try again")

    async def _affected(self, record: SecretRecord) -> list[AffectedDeployment]:
        if self._impact is None:
            return []
        return await self._impact.affected(
            record.organization_id, record.customer_organization_id, record.key
        )

    async def delete(self, req: SecretDeleteRequest) -> SecretDeleteReply:
        """Delete a secret; its versions stay for redaction until the retention ends."""
        actor, record = req.actor, None
        try:
            record, revision = await self._load_visible(actor, req.id)
            policy.require_write(actor)
            try:
                affected = await self._affected(record)
            except SigilError as err:
                if not req.force:
                    msg = "cannot check which deployments use this secret; retry, or force"
                    raise UnavailableError(msg) from err
                affected = []
            if affected and not req.force:
                raise ConflictError(
                    f"secret {record.key} is used by {len(affected)} live deployment "
                    "revision(s); redeploy them first or delete with force",
                    details={"affectedDeployments": [a.model_dump(mode="json") for a in affected]},
                )
            tomb = replace(record, deleted_at=self._clock(), deleted_by=actor.user_id)
            await self._audit.writable(actor.organization_id)
            try:
                await self._store.remove(tomb, expected_revision=revision)
            except StaleRevisionError as err:
                raise ConflictError("secret changed while deleting; try again") from err
            removed = record
            await self._announce(actor.organization_id, lambda: self._store.restore(removed))
        except SigilError as err:
            await self._refuse(req, "delete", err, record=record)
        event = self._event(
            actor, req.request_id, "delete", outcome=AuditOutcome.SUCCESS, record=record
        )
        await self._applied(event, lambda: self._store.restore(record))
        await self._events.publish(self._changed("deleted", record, actor))
        return SecretDeleteReply(
            id=record.id, key=record.key, version=record.version, affected_deployments=affected
        )

    # -- queries ---------------------------------------------------------------

    async def get(self, req: SecretGetRequest) -> SecretDetail:
        """Metadata and version history of one secret in the actor's scope."""
        record, _ = await self._load_visible(req.actor, req.id)
        return record.to_detail()

    async def list_secrets(self, req: SecretListRequest) -> SecretListReply:
        """One page of the actor's scope, sorted by key; costs O(page), not O(organization)."""
        where = listing.list_scope(req.actor, req)
        after = listing.decode_cursor(req.cursor) if req.cursor else None
        if where is None:
            return SecretListReply(items=[], next_cursor=None)
        fetched = await self._store.page(
            req.actor.organization_id, where, after=after, limit=req.limit + 1
        )
        items, cursor = listing.split_page(fetched, req.limit)
        return SecretListReply(
            items=[r.to_metadata() for r in items if policy.visible(req.actor, r)],
            next_cursor=cursor,
        )

    async def audit_query(self, req: AuditQueryRequest) -> AuditQueryReply:
        """Admins page their scope's audit events, oldest first, filtered."""
        policy.require_admin(req.actor)
        try:
            after = int(req.cursor) if req.cursor else 0
        except ValueError as err:
            raise InvalidRequestError("cursor is not one this API returned") from err
        own = req.actor.customer_organization_id
        items: list[AuditEvent] = []
        last_seq = after  # the last event looked at: the page goes on after it
        size = 0  # bytes of the page's events as JSON
        scanned = 0
        deadline = self._monotonic() + self._audit_scan_seconds
        async for seq, event in self._audit.events(req.actor.organization_id, after=after):
            if scanned == self._audit_scan_events or (scanned and self._monotonic() > deadline):
                return AuditQueryReply(items=items, next_cursor=str(last_seq))
            scanned += 1
            if not _audit_matches(req, own, event):
                last_seq = seq
                continue
            if len(items) == req.limit:
                return AuditQueryReply(items=items, next_cursor=str(last_seq))
            # A page stops short of ``limit`` at AUDIT_PAGE_BYTES, so that its reply always
            # fits one bus message; an event larger than that is served alone on its page.
            event_size = len(event.model_dump_json()) + 1
            if items and size + event_size > self._audit_page_bytes:
                return AuditQueryReply(items=items, next_cursor=str(last_seq))
            shown = event
            if event_size > self._audit_event_bytes:
                shown, event_size = _shortened(event, self._audit_event_bytes)
            items.append(shown)
            size += event_size
            last_seq = seq
        return AuditQueryReply(items=items, next_cursor=None)

    # -- internal: values for the renderer and the redactor ---------------------

    async def _value(self, record: SecretRecord, version: int) -> str | None:
        if version == record.version:
            envelope = record.envelope
        else:
            found = await self._store.load_version(record.organization_id, record.id, version)
            if found is None:
                return None
            envelope = found
        aad = record_aad(
            record.organization_id, record.customer_organization_id, record.key, version
        )
        return open_envelope(self._keyring.get(), envelope, aad)

    def _live_tombstones(self, tombs: list[SecretRecord]) -> list[SecretRecord]:
        cutoff = self._clock() - self._retention
        return [t for t in tombs if t.deleted_at is None or t.deleted_at >= cutoff]

    async def _pinned_values(
        self,
        org: str,
        customer: str | None,
        pinned: list[PinnedVersion],
        *,
        strict: bool,
    ) -> list[tuple[PinnedVersion, str]]:
        """The value of every pinned (key, scope, version) still kept, live or deleted.

        Each pin is looked up by (scope, key) in the live records first, then among the
        kept tombstones (read once, only if needed); envelopes load in parallel. ``strict``
        (a re-render): a pin that is gone is an error naming key and version.
        """
        in_scope = [p for p in pinned if p.customer_organization_id in (None, customer)]
        holders: dict[PinnedVersion, SecretRecord] = {}
        unresolved: list[PinnedVersion] = []
        for pin in in_scope:
            live = await self._store.find(org, pin.customer_organization_id, pin.key)
            if live is not None and _holds(live, pin.version):
                holders[pin] = live
            else:
                unresolved.append(pin)
        if unresolved:
            tombs = self._live_tombstones(await self._store.tombstones(org))
            for pin in unresolved:
                tomb = next(
                    (
                        t
                        for t in tombs
                        if t.key == pin.key
                        and t.customer_organization_id == pin.customer_organization_id
                        and _holds(t, pin.version)
                    ),
                    None,
                )
                if tomb is not None:
                    holders[pin] = tomb
        pins = list(holders)
        values = await asyncio.gather(*(self._value(holders[p], p.version) for p in pins))
        found = [(pin, value) for pin, value in zip(pins, values, strict=True) if value is not None]
        if strict:
            kept = {pin for pin, _ in found}
            for pin in pinned:
                if pin not in kept:
                    raise _pin_gone(pin)
        return found

    async def _current(
        self, org: str, customer: str | None, keys: list[str] | None
    ) -> dict[str, SecretRecord]:
        """Key -> record a deployment of this scope gets (customer-specific wins)."""
        if keys is None:
            return deployment_secrets(await self._store.load_all(org), customer)
        chosen: dict[str, SecretRecord] = {}
        for key in dict.fromkeys(keys):
            record = await self._store.find(org, customer, key) if customer else None
            record = record or await self._store.find(org, None, key)
            if record is not None:
                chosen[key] = record
        return chosen

    async def resolve(self, req: SecretResolveRequest) -> SecretResolveReply:
        """The values a deployment of this scope renders with; pinned versions always win.

        A re-render names the versions its receipt recorded: each comes back exactly, or
        the reply is an error naming the key and version (never another value).
        """
        org, customer = req.organization_id, req.customer_organization_id
        # Fresh across replicas: a renderer resolves after the scope generation moved, and
        # must then see the change, whichever replica acknowledged it (contract C2).
        await self._store.sync()
        chosen = await self._current(org, customer, req.keys)
        resolved = {
            key: ResolvedSecret(
                key=key,
                customer_organization_id=record.customer_organization_id,
                version=record.version,
                value=await self._value(record, record.version) or "",
            )
            for key, record in chosen.items()
        }
        if req.pinned:
            wanted = set(req.keys) if req.keys is not None else None
            pins = [p for p in req.pinned if wanted is None or p.key in wanted]
            for pin, value in await self._pinned_values(org, customer, pins, strict=True):
                resolved[pin.key] = ResolvedSecret(
                    key=pin.key,
                    customer_organization_id=pin.customer_organization_id,
                    version=pin.version,
                    value=value,
                )
        return SecretResolveReply(secrets=[resolved[k] for k in sorted(resolved)])

    async def redaction_values(self, req: RedactionValuesRequest) -> RedactionValuesReply:
        """Every value a deployment of this scope could have seen: current and pinned."""
        org, customer = req.organization_id, req.customer_organization_id
        await self._store.sync()  # a value just written through another replica is masked too
        records = await self._store.load_all(org)
        # A deployment without receipts (redactor: all_customers) may have seen any of them.
        in_scope = [
            r
            for r in records
            if req.all_customers or r.customer_organization_id in (None, customer)
        ]
        values = {await self._value(r, r.version) for r in in_scope}
        # A line written just before a change may hold the value it replaced (or deleted),
        # and reach the redactor after it: those stay masked for as long as a raw line waits.
        cutoff = self._clock() - self._mask_replaced_for
        tombs = [
            t
            for t in await self._store.tombstones(org)
            if req.all_customers or t.customer_organization_id in (None, customer)
        ]
        for record in [*in_scope, *tombs]:
            for version in record.replaced_since(cutoff):
                values.add(await self._value(record, version))
        if req.pinned:
            pinned = await self._pinned_values(org, customer, req.pinned, strict=False)
            values.update(value for _, value in pinned)
        try:
            page = redaction_page(
                [v for v in values if v],
                start=req.start,
                snapshot=req.snapshot,
                max_bytes=self._redaction_page_bytes,
            )
        except SetChangedError as err:
            raise ConflictError(str(err), details={"field": "snapshot"}) from err
        return RedactionValuesReply(
            values=page.values,
            next_start=page.next_start,
            snapshot=page.snapshot,
        )

    async def health(self) -> dict[str, str]:
        """Store and audit readiness (the audit check makes /readyz tell the truth)."""
        checks: dict[str, str] = {}
        for name, probe in (("store", self._store.ping), ("audit", self._audit.ping)):
            try:
                await probe()
                checks[name] = "ok"
            except SigilError as err:
                checks[name] = err.message
        return checks


def _pins(affected: list[AffectedDeployment] | None) -> frozenset[int] | None:
    """Versions live revisions pin, or None when unknown (then nothing may be evicted)."""
    return None if affected is None else frozenset(a.version for a in affected)


def _holds(record: SecretRecord, version: int) -> bool:
    return version == record.version or version in record.kept_versions()


def _pin_gone(pin: PinnedVersion) -> PinnedVersionGoneError:
    scope = pin.customer_organization_id
    where = f"customer organization {scope}" if scope else "vendor scope"
    msg = (
        f"version {pin.version} of secret {pin.key} ({where}), which this deployment revision "
        "was rendered with, is no longer kept; redeploy to render with the current value"
    )
    return PinnedVersionGoneError(
        msg,
        details={"key": pin.key, "customerOrganizationId": scope, "version": pin.version},
    )


def _audit_matches(req: AuditQueryRequest, own: str | None, event: AuditEvent) -> bool:
    """Whether ``event`` is in the query's scope (``own``: a customer admin's organization)
    and passes its filters."""
    if own is not None and own not in (
        event.customer_organization_id,
        event.actor_customer_organization_id,
    ):
        return False
    return (
        (req.key is None or event.key == req.key)
        and (req.actor_id is None or event.actor_id == req.actor_id)
        and (req.action is None or event.action == req.action)
        and (req.since is None or event.at >= req.since)
        and (req.until is None or event.at <= req.until)
    )
