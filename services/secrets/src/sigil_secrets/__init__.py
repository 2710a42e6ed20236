"""Sigil secrets service: scoped, versioned, envelope-encrypted secrets with audit."""
