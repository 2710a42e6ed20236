"""The renderer service: validate for the gateway, render for the platform, impact queries."""

import time
from collections.abc import Callable
from datetime import UTC, datetime

from opentelemetry import metrics, trace

from sigil_renderer.domain.validation import FileResult, validate_file
from sigil_renderer.engine import TemplateCache, TemplateError
from sigil_renderer.errors import TemplateRejectedError
from sigil_renderer.ports import ReceiptPublisher, ReceiptStore, SecretsSource
from sigil_shared.contracts import (
    Actor,
    AffectedDeployment,
    PinnedVersion,
    ReceiptEntry,
    ReceiptImpactReply,
    ReceiptImpactRequest,
    RenderReceipt,
    TemplateFile,
    TemplateRenderReply,
    TemplateRenderRequest,
    TemplateValidateReply,
    TemplateValidateRequest,
)
from sigil_shared.errors import ForbiddenError, InvalidRequestError

_TRACER = trace.get_tracer("sigil.renderer")
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


def _files(env_file: str | None, values_yaml: str | None) -> dict[TemplateFile, str]:
    files: dict[TemplateFile, str] = {}
    if env_file is not None:
        files["envFile"] = env_file
    if values_yaml is not None:
        files["valuesYaml"] = values_yaml
    if not files:
        raise InvalidRequestError("provide envFile and/or valuesYaml")
    return files


class RendererService:
    """Every command of the renderer; handlers only translate messages to calls."""

    def __init__(
        self,
        *,
        secrets: SecretsSource,
        receipts: ReceiptStore,
        events: ReceiptPublisher,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._secrets = secrets
        self._receipts = receipts
        self._events = events
        self._clock = clock
        self._templates = TemplateCache()

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
        scope = deployment_scope(req.actor, req.customer_organization_id)
        files = _files(req.env_file, req.values_yaml)
        resolved = await self._secrets.resolve(
            req.actor.organization_id, scope, keys=self._referenced(files)
        )
        values = {key: s.value.get_secret_value() for key, s in resolved.items()}
        results = [
            validate_file(name, text, values, compile_template=self._templates.parse)
            for name, text in files.items()
        ]
        errors = [issue for r in results for issue in r.issues]
        return TemplateValidateReply(
            valid=not errors,
            errors=errors,
            references=sorted(set().union(*(r.references for r in results))),
            missing=sorted(set().union(*(r.missing for r in results))),
        )

    async def render(self, req: TemplateRenderRequest) -> TemplateRenderReply:
        """Render a revision; an existing revision re-renders with the versions it pinned."""
        start = time.perf_counter()
        with _TRACER.start_as_current_span("renderer.render"):
            try:
                return await self._render(req)
            finally:
                _RENDER_SECONDS.record(time.perf_counter() - start)

    async def _render(self, req: TemplateRenderRequest) -> TemplateRenderReply:
        org, scope = req.organization_id, req.customer_organization_id
        files = _files(req.env_file, req.values_yaml)
        existing = await self._receipts.get(org, req.deployment_id, req.revision)
        pinned: list[PinnedVersion] | None = list(existing.secrets) if existing else None
        resolved = await self._secrets.resolve(org, scope, pinned, keys=self._referenced(files))
        values = {key: s.value.get_secret_value() for key, s in resolved.items()}
        results: dict[TemplateFile, FileResult] = {
            name: validate_file(name, text, values, compile_template=self._templates.parse)
            for name, text in files.items()
        }
        issues = [issue for r in results.values() for issue in r.issues]
        if issues:
            raise TemplateRejectedError(
                "templates cannot be rendered: " + issues[0].message,
                details={"errors": [i.model_dump(mode="json") for i in issues]},
            )
        receipt = existing or RenderReceipt(
            organization_id=org,
            customer_organization_id=scope,
            deployment_id=req.deployment_id,
            revision=req.revision,
            secrets=[
                ReceiptEntry(
                    key=key,
                    customer_organization_id=resolved[key].customer_organization_id,
                    version=resolved[key].version,
                )
                for key in sorted(set().union(*(r.references for r in results.values())))
                if key in resolved
            ],
            rendered_at=self._clock(),
        )
        if existing is None:
            await self._receipts.put(receipt)
            await self._events.published(receipt)
        env = results.get("envFile")
        values_out = results.get("valuesYaml")
        return TemplateRenderReply(
            env_file=env.output if env else None,
            values_yaml=values_out.output if values_out else None,
            receipt=receipt,
            reused_receipt=existing is not None,
        )

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
