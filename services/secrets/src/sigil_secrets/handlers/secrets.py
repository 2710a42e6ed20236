"""``sigil.secrets.secret.*``: CRUD commands from the gateway."""

from faststream.nats import NatsBroker

from sigil_secrets.handlers.deps import ServiceDep
from sigil_shared import subjects
from sigil_shared.contracts import (
    Reply,
    SecretCreateRequest,
    SecretDeleteReply,
    SecretDeleteRequest,
    SecretDetail,
    SecretGetRequest,
    SecretListReply,
    SecretListRequest,
    SecretMetadata,
    SecretUpdateReply,
    SecretUpdateRequest,
)


def register(broker: NatsBroker) -> None:
    """Subscribe the CRUD handlers in the service's queue group."""
    queue = subjects.queue("secrets")

    @broker.subscriber(subjects.SECRET_CREATE, queue=queue)
    async def create(request: SecretCreateRequest, service: ServiceDep) -> Reply[SecretMetadata]:
        return Reply.success(await service.create(request))

    @broker.subscriber(subjects.SECRET_UPDATE, queue=queue)
    async def update(request: SecretUpdateRequest, service: ServiceDep) -> Reply[SecretUpdateReply]:
        return Reply.success(await service.update(request))

    @broker.subscriber(subjects.SECRET_DELETE, queue=queue)
    async def delete(request: SecretDeleteRequest, service: ServiceDep) -> Reply[SecretDeleteReply]:
        return Reply.success(await service.delete(request))

    @broker.subscriber(subjects.SECRET_GET, queue=queue)
    async def get(request: SecretGetRequest, service: ServiceDep) -> Reply[SecretDetail]:
        return Reply.success(await service.get(request))

    @broker.subscriber(subjects.SECRET_LIST, queue=queue)
    async def list_(request: SecretListRequest, service: ServiceDep) -> Reply[SecretListReply]:
        return Reply.success(await service.list_secrets(request))
