"""Adapters: streams, receipts, values from the secrets service."""
