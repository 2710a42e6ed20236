"""``sigil.secrets.audit.*``: paged audit queries for admins."""

from faststream.nats import NatsBroker

from sigil_secrets.handlers.deps import ServiceDep
from sigil_shared import subjects
from sigil_shared.contracts import AuditQueryReply, AuditQueryRequest, Reply


def register(broker: NatsBroker) -> None:
    """Subscribe the audit query handler."""

    @broker.subscriber(subjects.AUDIT_QUERY, queue=subjects.queue("secrets"))
    async def query(request: AuditQueryRequest, service: ServiceDep) -> Reply[AuditQueryReply]:
        return Reply.success(await service.audit_query(request))
