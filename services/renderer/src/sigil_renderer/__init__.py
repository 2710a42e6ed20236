"""Sigil renderer: Go text/template rendering and template validation."""

from sigil_renderer.engine import (
    CompiledTemplate,
    TemplateCache,
    TemplateError,
    TemplateExecError,
    TemplateParseError,
    parse,
    render,
)

__all__ = [
    "CompiledTemplate",
    "TemplateCache",
    "TemplateError",
    "TemplateExecError",
    "TemplateParseError",
    "parse",
    "render",
]
