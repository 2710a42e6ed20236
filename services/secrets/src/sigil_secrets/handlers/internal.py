"""``sigil.secrets.internal.*``: values for the renderer and the redactor (NATS permissions)."""

from faststream.nats import NatsBroker

from sigil_secrets.handlers.deps import ServiceDep
from sigil_shared import subjects
from sigil_shared.contracts import (
    RedactionValuesReply,
    RedactionValuesRequest,
    Reply,
    SecretResolveReply,
    SecretResolveRequest,
)


def register(broker: NatsBroker) -> None:
    """Subscribe the internal value handlers."""
    queue = subjects.queue("secrets")

    @broker.subscriber(subjects.SECRET_RESOLVE, queue=queue)
    async def resolve(
        request: SecretResolveRequest, service: ServiceDep
    ) -> Reply[SecretResolveReply]:
        return Reply.success(await service.resolve(request))

    @broker.subscriber(subjects.SECRET_REDACTION_VALUES, queue=queue)
    async def redaction_values(
        request: RedactionValuesRequest, service: ServiceDep
    ) -> Reply[RedactionValuesReply]:
        return Reply.success(await service.redaction_values(request))
