"""Go oracle for the template engine: generates recorded fixtures (needs Go only to regenerate)."""
