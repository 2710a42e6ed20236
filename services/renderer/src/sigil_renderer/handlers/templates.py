"""``sigil.renderer.template.*`` and ``sigil.renderer.receipt.*``."""

from faststream.nats import NatsBroker

from sigil_renderer.service import RendererService
from sigil_shared import operations as ops
from sigil_shared.bus import Deferred, serve


def register(broker: NatsBroker, service: Deferred[RendererService]) -> None:
    """Answer render, validate and impact in the renderer's queue group."""
    serve(broker, ops.TEMPLATE_VALIDATE, lambda request: service.get().validate(request))
    serve(broker, ops.TEMPLATE_RENDER, lambda request: service.get().render(request))
    serve(broker, ops.RECEIPT_IMPACT, lambda request: service.get().impact(request))
