"""``sigil.renderer.template.*`` and ``sigil.renderer.receipt.*``."""

from faststream.nats import NatsBroker

from sigil_renderer.handlers.deps import ServiceDep
from sigil_shared import subjects
from sigil_shared.contracts import (
    ReceiptImpactReply,
    ReceiptImpactRequest,
    Reply,
    TemplateRenderReply,
    TemplateRenderRequest,
    TemplateValidateReply,
    TemplateValidateRequest,
)


def register(broker: NatsBroker) -> None:
    """Subscribe render, validate and impact in the renderer's queue group."""
    queue = subjects.queue("renderer")

    @broker.subscriber(subjects.TEMPLATE_VALIDATE, queue=queue)
    async def validate(
        request: TemplateValidateRequest, service: ServiceDep
    ) -> Reply[TemplateValidateReply]:
        return Reply.success(await service.validate(request))

    @broker.subscriber(subjects.TEMPLATE_RENDER, queue=queue)
    async def render(
        request: TemplateRenderRequest, service: ServiceDep
    ) -> Reply[TemplateRenderReply]:
        return Reply.success(await service.render(request))

    @broker.subscriber(subjects.RECEIPT_IMPACT, queue=queue)
    async def impact(
        request: ReceiptImpactRequest, service: ServiceDep
    ) -> Reply[ReceiptImpactReply]:
        return Reply.success(await service.impact(request))
