"""Errors of the renderer service."""

from sigil_shared.contracts import PinnedVersion
from sigil_shared.errors import InvalidRequestError, NotFoundError


class TemplateRejectedError(InvalidRequestError):
    """The templates cannot be rendered safely; details carry the issues (never values)."""


class PinnedVersionGoneError(NotFoundError):
    """A re-render needs a version its receipt pinned that is no longer kept: never fall back."""

    def __init__(self, pin: PinnedVersion, *, deployment: str, revision: int) -> None:
        scope = pin.customer_organization_id or "vendor level"
        super().__init__(
            f"secret {pin.key} ({scope}) version {pin.version}, pinned by deployment "
            f"{deployment} revision {revision}, is no longer kept; render a new revision "
            "to use the current value",
            details={
                "key": pin.key,
                "customerOrganizationId": pin.customer_organization_id,
                "version": pin.version,
                "deploymentId": deployment,
                "revision": revision,
            },
        )
