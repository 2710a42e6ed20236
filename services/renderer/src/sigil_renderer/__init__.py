"""Sigil renderer: Go text/template rendering and template validation."""
