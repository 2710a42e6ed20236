"""NatsEventPublisher: change events on ``sigil.events.secret.<change>.<org>``."""

import logging

from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError

from sigil_shared import subjects
from sigil_shared.contracts import SecretChanged

log = logging.getLogger("sigil.secrets.events")


class NatsEventPublisher:
    """The EventPublisher port on core NATS."""

    def __init__(self, nc: NatsClient) -> None:
        self._nc = nc

    async def publish(self, event: SecretChanged) -> None:
        """Publish; a failure is logged (the audit stream is the durable record)."""
        try:
            await self._nc.publish(
                subjects.secret_event(event.change, event.organization_id),
                event.model_dump_json().encode(),
            )
        except NatsError as err:
            log.warning("change event not published: %s", type(err).__name__)
