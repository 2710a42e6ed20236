"""``sigil.renderer.template.*`` and ``sigil.renderer.receipt.*``."""

from faststream.nats import NatsBroker

from sigil_renderer.service import RendererService
from sigil_shared import operations as ops
from sigil_shared.bus import Deferred, serve

#: Renders in flight per replica: each awaits the KV and the audit intake, so one at a
#: time would cap a replica at one render per round trip.
RENDER_WORKERS = 64


def register(broker: NatsBroker, service: Deferred[RendererService]) -> None:
    """Answer render, validate and impact in the renderer's queue group."""
    serve(broker, ops.TEMPLATE_VALIDATE, lambda request: service.get().validate(request))
    serve(
        broker,
        ops.TEMPLATE_RENDER,
        lambda request: service.get().render(request),
        max_workers=RENDER_WORKERS,
    )
    serve(broker, ops.RECEIPT_IMPACT, lambda request: service.get().impact(request))
