"""``sigil.secrets.secret.*``: CRUD commands from the gateway."""

from faststream.nats import NatsBroker

from sigil_secrets.service import SecretsService
from sigil_shared import operations as ops
from sigil_shared.bus import Deferred, serve

#: Commands in flight per replica: a change awaits several JetStream round trips (store,
#: scope generation, audit), so one at a time capped a replica at one change per latency;
#: many in flight also let the audit and generation writers group-commit.
WRITE_WORKERS = 64
READ_WORKERS = 16


def register(broker: NatsBroker, service: Deferred[SecretsService]) -> None:
    """Answer the CRUD commands in the service's queue group."""
    writes = {"max_workers": WRITE_WORKERS}
    reads = {"max_workers": READ_WORKERS}
    serve(broker, ops.SECRET_CREATE, lambda request: service.get().create(request), **writes)
    serve(broker, ops.SECRET_UPDATE, lambda request: service.get().update(request), **writes)
    serve(broker, ops.SECRET_DELETE, lambda request: service.get().delete(request), **writes)
    serve(broker, ops.SECRET_GET, lambda request: service.get().get(request), **reads)
    serve(broker, ops.SECRET_LIST, lambda request: service.get().list_secrets(request), **reads)
