"""``sigil.events.secret.>``: a changed organization's cached values are dropped at once."""

from faststream.nats import NatsBroker

from sigil_renderer.adapters.cached_secrets import ValueCache
from sigil_shared import operations as ops
from sigil_shared.bus import listen
from sigil_shared.contracts import SecretChanged


def register(broker: NatsBroker, values: ValueCache) -> None:
    """Every replica hears every change (no queue group); freshness does not depend on it."""

    async def changed(event: SecretChanged) -> None:
        values.drop_organization(event.organization_id)

    listen(broker, ops.SECRET_CHANGED, changed)
