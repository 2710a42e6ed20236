"""``sigil.redactor.logs.*``: masked pages of a deployment's stored logs (for the gateway)."""

from faststream.nats import NatsBroker

from sigil_redactor.handlers.deps import ServiceDep
from sigil_shared import subjects
from sigil_shared.contracts import LogPageReply, LogPageRequest, Reply


def register(broker: NatsBroker) -> None:
    """Subscribe the page handler in the redactor's queue group."""

    @broker.subscriber(subjects.LOGS_PAGE, queue=subjects.queue("redactor"))
    async def page(request: LogPageRequest, service: ServiceDep) -> Reply[LogPageReply]:
        return Reply.success(await service.page(request))
