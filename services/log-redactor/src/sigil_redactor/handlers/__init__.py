"""Bus handlers, one module per subject family."""
