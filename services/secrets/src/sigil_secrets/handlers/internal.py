"""``sigil.secrets.internal.*``: values for the renderer and the redactor (NATS permissions)."""

from faststream.nats import NatsBroker

from sigil_secrets.service import SecretsService
from sigil_shared import operations as ops
from sigil_shared.bus import Deferred, serve

#: Value requests in flight per replica (renders and matcher builds arrive in bursts; a
#: resolve of an old pinned version awaits a KV read).
VALUE_WORKERS = 32


def register(broker: NatsBroker, service: Deferred[SecretsService]) -> None:
    """Answer the internal value commands."""
    serve(
        broker,
        ops.SECRET_RESOLVE,
        lambda request: service.get().resolve(request),
        max_workers=VALUE_WORKERS,
    )
    serve(
        broker,
        ops.SECRET_REDACTION_VALUES,
        lambda request: service.get().redaction_values(request),
        max_workers=VALUE_WORKERS,
    )
