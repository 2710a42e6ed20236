"""``sigil.redactor.logs.*``: masked pages of a deployment's stored logs (for the gateway)."""

from faststream.nats import NatsBroker

from sigil_redactor.service import RedactorService
from sigil_shared import operations as ops
from sigil_shared.bus import Deferred, serve


def register(broker: NatsBroker, service: Deferred[RedactorService]) -> None:
    """Answer the page command in the redactor's queue group."""
    serve(broker, ops.LOGS_PAGE, lambda request: service.get().page(request))
