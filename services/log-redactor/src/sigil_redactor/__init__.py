"""Sigil log redactor: masks every secret value a deployment could have seen."""
