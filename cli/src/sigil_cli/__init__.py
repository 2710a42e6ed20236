"""The ``sigil`` command: embedded stack, tokens and admin tasks."""
