"""The renderer service: validate for the gateway, render for the platform, impact queries."""

import asyncio
import functools
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import NoReturn

from opentelemetry import metrics, trace

from sigil_renderer.adapters.scope_keys import ValuelessScopeKeys
from sigil_renderer.domain.validation import (
    FileResult,
    bounded_validate_reply,
    validate_blind,
    validate_file,
)
from sigil_renderer.engine import TemplateCache, TemplateError
from sigil_renderer.errors import PinnedVersionGoneError, TemplateRejectedError
from sigil_renderer.ports import (
    AuditIntake,
    ReceiptPublisher,
    ReceiptStore,
    RenderValues,
    ScopeKeySource,
    StoredReceipt,
)
from sigil_renderer.template.references import names_secrets_dynamically
from sigil_shared.contracts import (
    Actor,
    AffectedDeployment,
    PinnedVersion,
    ReceiptEntry,
    ReceiptImpactReply,
    ReceiptImpactRequest,
    RenderReceipt,
    ResolvedSecret,
    Role,
    TemplateFile,
    TemplateRenderReply,
    TemplateRenderRequest,
    TemplateValidateReply,
    TemplateValidateRequest,
    ValueUseEvent,
    ValueUseKey,
)
from sigil_shared.contracts.audit import MAX_VALUE_USE_KEYS
from sigil_shared.errors import (
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    SigilError,
    UnavailableError,
)
from sigil_shared.ids import key_problem
from sigil_shared.telemetry import tracing_enabled

_TRACER = trace.get_tracer("sigil.renderer")
#: A lost race for a new revision's receipt is retried (as a re-render) this often.
_RENDER_ATTEMPTS = 3
_RENDER_SECONDS = metrics.get_meter("sigil.renderer").create_histogram(
    "sigil.render.duration", unit="s", description="Time to render a deployment revision"
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def deployment_scope(actor: Actor, customer_organization_id: str | None) -> str | None:
    """A customer user checks as its own customer; a vendor as the named customer or itself."""
    if actor.customer_organization_id is None:
        return customer_organization_id
    if customer_organization_id not in (None, actor.customer_organization_id):
        msg = "customer users may only check templates for their own customer organization"
        raise ForbiddenError(msg, details={"field": "customerOrganizationId"})
    return actor.customer_organization_id


def actor_sees_deployment(actor: Actor, customer_organization_id: str | None) -> bool:
    """A customer user's scope is its own customer organization; a vendor user's is all."""
    return actor.customer_organization_id in (None, customer_organization_id)


def _files(env_file: str | None, values_yaml: str | None) -> dict[TemplateFile, str]:
    files: dict[TemplateFile, str] = {}
    if env_file is not None:
        files["envFile"] = env_file
    if values_yaml is not None:
        files["valuesYaml"] = values_yaml
    if not files:
        raise InvalidRequestError("provide envFile and/or valuesYaml")
    return files


def _same_version(secret: ResolvedSecret, pin: PinnedVersion) -> bool:
    return (
        secret.version == pin.version
        and secret.customer_organization_id == pin.customer_organization_id
    )


@functools.lru_cache(maxsize=4096)
def _entry(key: str, scope: str | None, version: int) -> ReceiptEntry:
    """Validated once per (key, scope, version) and shared (frozen): a render's receipt
    names the same entries as the last one of its scope until a secret changes."""
    return ReceiptEntry(key=key, customer_organization_id=scope, version=version)


@functools.lru_cache(maxsize=4096)
def _use_key(key: str, scope: str | None, version: int | None) -> ValueUseKey:
    """A value-use event's key, validated once per (key, scope, version) like ``_entry``."""
    return ValueUseKey(key=key, customer_organization_id=scope, version=version)


def _entries(secrets: list[ResolvedSecret]) -> list[ReceiptEntry]:
    return [_entry(s.key, s.customer_organization_id, s.version) for s in secrets]


async def _unchanged() -> bool:
    return True


@functools.lru_cache(maxsize=4096)
def _platform_actor(org: str) -> Actor:
    """Who renders when the platform names no user: its own service identity, which holds
    no secret-management role (read_only is the least there is). Validated once per
    organization and shared (frozen)."""
    return Actor(user_id="platform", organization_id=org, role=Role.READ_ONLY)


def _trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


class RendererService:
    """Every command of the renderer; handlers only translate messages to calls."""

    def __init__(
        self,
        *,
        secrets: RenderValues,
        receipts: ReceiptStore,
        events: ReceiptPublisher,
        audit: AuditIntake,
        scope_keys: ScopeKeySource | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        # Validation learns key names only: by default from the values source, with the
        # values dropped in the adapter.
        self._scope_keys = scope_keys or ValuelessScopeKeys(secrets)
        self._secrets = secrets
        self._receipts = receipts
        self._events = events
        self._audit_intake = audit
        self._clock = clock
        self._templates = TemplateCache()

    def _check_reference_count(self, files: dict[TemplateFile, str]) -> set[str]:
        """The keys the templates name; more than ``MAX_VALUE_USE_KEYS`` is refused (from
        the text alone), so every use can be audited in one bounded event."""
        referenced = self._referenced(files)
        if len(referenced) > MAX_VALUE_USE_KEYS:
            msg = (
                f"the templates name {len(referenced)} different secrets; at most "
                f"{MAX_VALUE_USE_KEYS} are allowed"
            )
            raise InvalidRequestError(msg, details={"field": "templates"})
        return referenced

    def _referenced(self, files: dict[TemplateFile, str]) -> set[str]:
        """Keys the templates name; a file that does not parse names none (reported later)."""
        keys: set[str] = set()
        for name, text in files.items():
            try:
                keys |= self._templates.parse(text, name).secret_keys
            except TemplateError:
                continue
        return keys

    async def validate(self, req: TemplateValidateRequest) -> TemplateValidateReply:
        """Dry run as a deployment of the caller's scope; never returns a value."""
        with _TRACER.start_as_current_span("renderer.validate"):
            return await self._validate(req)

    async def _validate(self, req: TemplateValidateRequest) -> TemplateValidateReply:
        """Value-blind: the answer depends on the text and on which keys exist, nothing else.

        The scope's key names are all it learns (values are dropped in the adapter); every
        validation, answered or refused, is audited before the reply.
        """
        try:
            scope = deployment_scope(req.actor, req.customer_organization_id)
            files = _files(req.env_file, req.values_yaml)
            self._check_reference_count(files)
        except SigilError as err:
            await self._audit_validation(req, req.customer_organization_id, [], err.code)
            raise
        keys = await self._scope_keys.keys(
            req.actor.organization_id, scope, self._names_needed(files)
        )
        results = [
            validate_blind(name, text, keys, compile_template=self._templates.parse)
            for name, text in files.items()
        ]
        references = sorted(set().union(*(r.references for r in results)))
        errors = [issue for r in results for issue in r.issues]
        reply = bounded_validate_reply(
            errors=errors,
            references=references,
            missing=sorted(set().union(*(r.missing for r in results))),
        )
        await self._audit_validation(req, scope, references, "success")
        return reply

    def _names_needed(self, files: dict[TemplateFile, str]) -> set[str] | None:
        """The key names validation must know exist: those the text names, or every key of
        the scope (None) when the text uses ``.Secrets`` without naming the key."""
        names: set[str] = set()
        for name, text in files.items():
            try:
                compiled = self._templates.parse(text, name)
            except TemplateError:
                continue
            if names_secrets_dynamically(compiled.trees):
                return None
            names |= compiled.secret_keys
        return names

    async def _audit_validation(
        self,
        req: TemplateValidateRequest,
        scope: str | None,
        references: list[str],
        outcome: str,
    ) -> None:
        """A ``template.validate`` value-use event (contract C1): the keys referenced, never
        text or values; raises (nothing is answered) when it cannot be recorded."""
        # Only names that can be secret keys are recorded (a longer or odd name names none).
        keys = [_use_key(k, None, None) for k in references if key_problem(k) is None]
        event = ValueUseEvent.model_validate(
            {
                "event_id": uuid.uuid4().hex,
                "action": "template.validate",
                "actor": req.actor,
                "organization_id": req.actor.organization_id,
                "customer_organization_id": scope,
                "keys": keys,
                "outcome": outcome,
                "request_id": req.request_id,
                "trace_id": _trace_id(),
                "at": self._clock(),
            }
        )
        await self._audit_intake.record(event)

    async def render(self, req: TemplateRenderRequest) -> TemplateRenderReply:
        """Render a revision; an existing revision re-renders with the versions it pinned.

        The first attempt takes the revision to be new (the common case: a deployment
        update is a new revision) and reads no receipt: creating the receipt is the check.
        If the revision exists, the next attempts read its receipt and render its pins.
        """
        start = time.perf_counter()
        try:
            if not tracing_enabled():  # no span to make: spare its cost on every render
                return await self._attempts(req)
            with _TRACER.start_as_current_span("renderer.render"):
                return await self._attempts(req)
        finally:
            _RENDER_SECONDS.record(time.perf_counter() - start)

    async def _attempts(self, req: TemplateRenderRequest) -> TemplateRenderReply:
        for attempt in range(_RENDER_ATTEMPTS):
            reply = await self._render(req, assume_new=attempt == 0)
            if reply is not None:
                return reply
        raise UnavailableError("the receipt of this revision keeps changing; try again")

    async def _render(
        self, req: TemplateRenderRequest, *, assume_new: bool
    ) -> TemplateRenderReply | None:
        """One attempt; None when the revision turned out to have a receipt (``assume_new``)
        or another render changed it meanwhile: the caller renders again from it.

        Nothing is answered before the revision's receipt and the audit record of this use
        are both stored; the audit record is written once the receipt is (an attempt whose
        output is thrown away used no value and records none).
        """
        org, scope = req.organization_id, req.customer_organization_id
        if req.actor is not None and req.actor.organization_id != org:
            msg = "the actor belongs to another organization"
            raise InvalidRequestError(msg, details={"field": "actor"})
        if req.actor is not None and not actor_sees_deployment(req.actor, scope):
            # Another customer's (or a vendor-internal) deployment is another tenant's thing:
            # answered as not found, before any read, so it reveals nothing; still audited.
            await self._audit(req, [], NotFoundError.code)
            raise NotFoundError(
                "no such deployment in the actor's scope", details={"field": "deploymentId"}
            )
        files = _files(req.env_file, req.values_yaml)
        try:
            referenced = self._check_reference_count(files)
        except InvalidRequestError as err:
            await self._audit(req, [], err.code)
            raise
        if assume_new:
            # The common case: the owner is known (answered from memory) and the values
            # cached, so the only read is the scope generation (shared by renders arriving
            # together); awaited in turn, without a task per read.
            owner = await self._receipts.claim_owner(org, req.deployment_id, scope)
            stored = None
            current = await self._secrets.current(org, scope, referenced)
        else:
            owner, stored, current = await asyncio.gather(
                self._receipts.claim_owner(org, req.deployment_id, scope),
                self._stored(req),
                self._secrets.current(org, scope, referenced),
            )
        if owner != scope:
            await self._refuse_other_scope(req)
        try:
            used = await self._values(req, stored, current, referenced)
        except PinnedVersionGoneError as err:
            await self._audit(req, [], err.code)
            raise
        values = {key: s.value.get_secret_value() for key, s in used.items()}
        results: dict[TemplateFile, FileResult] = {
            name: validate_file(name, text, values, compile_template=self._templates.parse)
            for name, text in files.items()
        }
        del values
        issues = [issue for r in results.values() for issue in r.issues]
        rendered = sorted(
            key for key in set().union(*(r.references for r in results.values())) if key in used
        )
        entries = _entries([used[key] for key in rendered])
        if issues:
            if assume_new and await self._stored(req) is not None:
                return None  # a rendered revision: its pinned values decide, not these
            rejected = TemplateRejectedError(
                "templates cannot be rendered: " + issues[0].message,
                details={"errors": [i.model_dump(mode="json") for i in issues]},
            )
            await self._audit(req, entries, rejected.code)
            raise rejected
        receipt, write, encoded = self._receipt(req, stored, entries)
        if not await write:
            # The revision has a receipt (rendered before, or by another render a moment
            # ago): render again from it. This attempt's output is dropped unseen.
            return None
        await self._audit(req, entries, "success")
        if stored is None or receipt is not stored.receipt:
            await self._events.published(receipt, encoded=encoded)
        env = results.get("envFile")
        values_out = results.get("valuesYaml")
        return TemplateRenderReply(
            env_file=env.output if env else None,
            values_yaml=values_out.output if values_out else None,
            receipt=receipt,
            reused_receipt=stored is not None,
        )

    async def _stored(self, req: TemplateRenderRequest) -> StoredReceipt | None:
        return await self._receipts.get(req.organization_id, req.deployment_id, req.revision)

    async def _refuse_other_scope(self, req: TemplateRenderRequest) -> NoReturn:
        """A deployment keeps the scope of its first render: another scope is refused.

        To a customer user it is another tenant's deployment (not found, reveals nothing);
        the platform, which knows every deployment, is told why.
        """
        if req.actor is not None and req.actor.customer_organization_id is not None:
            await self._audit(req, [], NotFoundError.code)
            raise NotFoundError(
                "no such deployment in the actor's scope", details={"field": "deploymentId"}
            )
        await self._audit(req, [], ConflictError.code)
        msg = (
            f"deployment {req.deployment_id} was first rendered for another scope; a "
            "deployment keeps its scope (use a new deployment id)"
        )
        raise ConflictError(msg, details={"field": "customerOrganizationId"})

    async def _values(
        self,
        req: TemplateRenderRequest,
        stored: StoredReceipt | None,
        current: dict[str, ResolvedSecret],
        referenced: set[str],
    ) -> dict[str, ResolvedSecret]:
        """The value of every referenced key: pinned versions for a rendered revision.

        A key the receipt names is rendered with exactly that (key, scope, version) or not
        at all; a key it does not name uses the current value (and joins the receipt).
        """
        if stored is None:
            return current
        if stored.receipt.customer_organization_id != req.customer_organization_id:
            msg = (
                f"deployment {req.deployment_id} revision {req.revision} was rendered for "
                "another scope; render a new revision"
            )
            raise ConflictError(msg, details={"field": "customerOrganizationId"})
        pins = {e.key: e for e in stored.receipt.secrets}
        used: dict[str, ResolvedSecret] = {}
        fetch: list[PinnedVersion] = []
        for key in sorted(referenced):
            pin = pins.get(key)
            now = current.get(key)
            if pin is None:
                if now is not None:
                    used[key] = now
            elif now is not None and _same_version(now, pin):
                used[key] = now
            else:
                fetch.append(pin)
        if fetch:
            kept = await self._secrets.pinned(
                req.organization_id, req.customer_organization_id, fetch
            )
            for wanted in fetch:
                found = kept.get(wanted.key)
                if found is None or not _same_version(found, wanted):
                    raise PinnedVersionGoneError(
                        wanted, deployment=req.deployment_id, revision=req.revision
                    )
                used[wanted.key] = found
        return used

    def _receipt(
        self,
        req: TemplateRenderRequest,
        stored: StoredReceipt | None,
        entries: list[ReceiptEntry],
    ) -> tuple[RenderReceipt, Awaitable[bool], bytes | None]:
        """The revision's receipt, its write (new, grown by keys it lacked, or as is) and,
        for a new one, its JSON (encoded once for the store and the receipt event)."""
        if stored is None:
            receipt = RenderReceipt(
                organization_id=req.organization_id,
                customer_organization_id=req.customer_organization_id,
                deployment_id=req.deployment_id,
                revision=req.revision,
                secrets=entries,
                rendered_at=self._clock(),
            )
            encoded = receipt.model_dump_json().encode()
            return receipt, self._receipts.create(receipt, encoded=encoded), encoded
        known = {e.key for e in stored.receipt.secrets}
        added = [e for e in entries if e.key not in known]
        if not added:
            return stored.receipt, _unchanged(), None
        receipt = stored.receipt.model_copy(
            update={"secrets": sorted([*stored.receipt.secrets, *added], key=lambda e: e.key)}
        )
        return receipt, self._receipts.update(receipt, last=stored.revision), None

    async def _audit(
        self, req: TemplateRenderRequest, entries: list[ReceiptEntry], outcome: str
    ) -> None:
        """Durably record this use of values (contract C1); raises when it cannot."""
        org = req.organization_id
        event = ValueUseEvent.model_validate(
            {
                "event_id": uuid.uuid4().hex,
                "action": "template.render",
                "actor": req.actor or _platform_actor(org),
                "organization_id": org,
                "customer_organization_id": req.customer_organization_id,
                "deployment_id": req.deployment_id,
                "revision": str(req.revision),
                "keys": [_use_key(e.key, e.customer_organization_id, e.version) for e in entries],
                "outcome": outcome,
                "request_id": req.request_id or uuid.uuid4().hex,
                "trace_id": _trace_id(),
                "at": self._clock(),
            }
        )
        await self._audit_intake.record(event)

    async def impact(self, req: ReceiptImpactRequest) -> ReceiptImpactReply:
        """Live revisions (newest per deployment) rendered with this key in this scope."""
        latest: dict[str, RenderReceipt] = {}
        for receipt in await self._receipts.organization(req.organization_id):
            current = latest.get(receipt.deployment_id)
            if current is None or receipt.revision > current.revision:
                latest[receipt.deployment_id] = receipt
        affected = [
            AffectedDeployment(
                deployment_id=receipt.deployment_id, revision=receipt.revision, version=e.version
            )
            for receipt in latest.values()
            for e in receipt.secrets
            if e.key == req.key and e.customer_organization_id == req.customer_organization_id
        ]
        affected.sort(key=lambda a: (a.deployment_id, a.revision))
        return ReceiptImpactReply(deployments=affected)
