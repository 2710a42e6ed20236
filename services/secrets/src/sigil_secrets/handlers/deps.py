"""The service object handlers receive from FastStream's context."""

from typing import Annotated

from faststream import Context

from sigil_secrets.service import SecretsService

SERVICE_CONTEXT_KEY = "secrets_service"

ServiceDep = Annotated[SecretsService, Context(SERVICE_CONTEXT_KEY)]
