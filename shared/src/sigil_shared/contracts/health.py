"""Health check contracts answered by every service on ``sigil.health.<service>``."""

from pydantic import Field

from sigil_shared.contracts.base import Contract


class HealthRequest(Contract):
    """Ask a service whether it is ready."""


class HealthReply(Contract):
    """A service's readiness, with one entry per dependency (``"ok"`` or why not)."""

    service: str
    ready: bool
    checks: dict[str, str] = Field(default_factory=dict)
