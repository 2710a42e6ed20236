"""Pure domain logic of the secrets service: no bus, no store, no web framework."""
