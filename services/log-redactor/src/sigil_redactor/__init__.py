"""Sigil log redactor: masks every secret value a deployment could have seen."""

from sigil_redactor.domain.kernel import MASK, Redactor

__all__ = ["MASK", "Redactor"]
