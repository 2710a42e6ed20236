"""BusSecretsSource: values for rendering from the secrets service's internal subject."""

from faststream.nats import NatsBroker

from sigil_shared import operations as ops
from sigil_shared.bus import request
from sigil_shared.contracts import (
    PinnedVersion,
    ResolvedSecret,
    SecretResolveRequest,
)


class BusSecretsSource:
    """Asks ``sigil.secrets.internal.resolve`` (only the renderer's NATS user may)."""

    def __init__(self, broker: NatsBroker, *, timeout: float) -> None:
        self._broker = broker
        self._timeout = timeout

    async def resolve(
        self,
        org: str,
        customer: str | None,
        pinned: list[PinnedVersion] | None = None,
        keys: set[str] | None = None,
    ) -> dict[str, ResolvedSecret]:
        """Key -> resolved secret for a deployment of this scope (only ``keys`` if given)."""
        reply = await request(
            self._broker,
            ops.SECRET_RESOLVE,
            SecretResolveRequest(
                organization_id=org,
                customer_organization_id=customer,
                pinned=pinned,
                keys=sorted(keys) if keys is not None else None,
            ),
            timeout=self._timeout,
        )
        return {s.key: s for s in reply.secrets}
