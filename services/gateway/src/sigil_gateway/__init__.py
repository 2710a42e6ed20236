"""Sigil gateway: the HTTP API in front of the bus."""
