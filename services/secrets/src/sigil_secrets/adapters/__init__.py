"""Adapters: the store, audit log and event publisher behind the ports."""
