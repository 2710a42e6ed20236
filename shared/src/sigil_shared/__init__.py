"""Sigil's shared library: the contracts, subjects, settings and plumbing every service uses."""
