"""The service object handlers receive from FastStream's context."""

from typing import Annotated

from faststream import Context

from sigil_renderer.service import RendererService

SERVICE_CONTEXT_KEY = "renderer_service"

ServiceDep = Annotated[RendererService, Context(SERVICE_CONTEXT_KEY)]
