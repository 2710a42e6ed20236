"""``sigil.secrets.secret.*``: CRUD commands from the gateway."""

from faststream.nats import NatsBroker

from sigil_secrets.service import SecretsService
from sigil_shared import operations as ops
from sigil_shared.bus import Deferred, serve


def register(broker: NatsBroker, service: Deferred[SecretsService]) -> None:
    """Answer the CRUD commands in the service's queue group."""
    serve(broker, ops.SECRET_CREATE, lambda request: service.get().create(request))
    serve(broker, ops.SECRET_UPDATE, lambda request: service.get().update(request))
    serve(broker, ops.SECRET_DELETE, lambda request: service.get().delete(request))
    serve(broker, ops.SECRET_GET, lambda request: service.get().get(request))
    serve(broker, ops.SECRET_LIST, lambda request: service.get().list_secrets(request))
