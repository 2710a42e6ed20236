"""Errors of the renderer service."""

from sigil_shared.errors import InvalidRequestError


class TemplateRejectedError(InvalidRequestError):
    """The templates cannot be rendered safely; details carry the issues (never values)."""
