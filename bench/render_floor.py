"""The floor under renders over NATS: a renderer stand-in that answers from memory.

    SIGIL_NATS_URL=... SIGIL_NATS_USER=renderer SIGIL_NATS_PASSWORD=... \\
        python -m bench.render_floor

It answers ``sigil.renderer.template.render`` through the same broker factory and
``serve`` registration as the renderer (same middlewares, same contracts, same
concurrency) with a prebuilt reply: no template, no KV, no audit. The renderer bench
runs it in the same run, so the cost of the bus plumbing itself sits next to the real
renderer's figures.
"""

import asyncio
import logging
from datetime import UTC, datetime

from faststream import FastStream

from sigil_renderer.handlers.templates import RENDER_WORKERS
from sigil_shared import operations as ops
from sigil_shared.bus import create_broker, serve
from sigil_shared.contracts import (
    ReceiptEntry,
    RenderReceipt,
    TemplateRenderReply,
    TemplateRenderRequest,
)
from sigil_shared.settings import RendererSettings


def main() -> None:
    """Serve the stand-in until signalled."""
    settings = RendererSettings()
    broker = create_broker(settings, service="render-floor")
    app = FastStream(broker, logger=logging.getLogger("sigil.render-floor"))
    output = "\n".join(f"VAR_{i}=value-{i}" for i in range(40)) + "\n"
    entries = [
        ReceiptEntry(key=f"SECRET_{i:02d}", customer_organization_id=None, version=1)
        for i in range(20)
    ]

    async def answer(request: TemplateRenderRequest) -> TemplateRenderReply:
        receipt = RenderReceipt(
            organization_id=request.organization_id,
            customer_organization_id=request.customer_organization_id,
            deployment_id=request.deployment_id,
            revision=request.revision,
            secrets=entries,
            rendered_at=datetime.now(UTC),
        )
        return TemplateRenderReply(
            env_file=output,
            receipt=receipt,
            reused_receipt=False,
        )

    serve(broker, ops.TEMPLATE_RENDER, answer, max_workers=RENDER_WORKERS)
    asyncio.run(app.run())


if __name__ == "__main__":
    main()
