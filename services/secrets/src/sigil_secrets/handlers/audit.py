"""``sigil.secrets.audit.*``: paged audit queries for admins."""

from faststream.nats import NatsBroker

from sigil_secrets.service import SecretsService
from sigil_shared import operations as ops
from sigil_shared.bus import Deferred, serve


def register(broker: NatsBroker, service: Deferred[SecretsService]) -> None:
    """Answer the audit query command."""
    serve(broker, ops.AUDIT_QUERY, lambda request: service.get().audit_query(request))
