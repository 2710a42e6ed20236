"""The service object handlers receive from FastStream's context."""

from typing import Annotated

from faststream import Context

from sigil_redactor.service import RedactorService

SERVICE_CONTEXT_KEY = "redactor_service"

ServiceDep = Annotated[RedactorService, Context(SERVICE_CONTEXT_KEY)]
