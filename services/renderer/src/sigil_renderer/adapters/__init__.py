"""Adapters: receipts store, secrets client, events."""
