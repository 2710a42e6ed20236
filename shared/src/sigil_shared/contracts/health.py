"""Health check contracts answered by every service on ``sigil.health.<service>``."""

from pydantic import Field

from sigil_shared.contracts.base import Contract

#: A check value starting with this reports a problem an operator should look at that does
#: not make the service unready (it keeps serving everyone else; e.g. one organization's
#: audit chain holding a forged message, which its appends link past).
DEGRADED = "degraded: "


def check_ready(value: str) -> bool:
    """Whether one check entry leaves its service ready: ``"ok"`` or degraded."""
    return value == "ok" or value.startswith(DEGRADED)


class HealthRequest(Contract):
    """Ask a service whether it is ready."""


class HealthReply(Contract):
    """A service's readiness, with one entry per dependency (``"ok"`` or why not; a
    ``DEGRADED`` entry is reported without making the service unready)."""

    service: str
    ready: bool
    checks: dict[str, str] = Field(default_factory=dict)
