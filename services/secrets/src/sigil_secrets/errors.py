"""Errors of the secrets service; every leaf is a SigilError so callers get a typed reply."""

from sigil_shared.errors import NotFoundError, SigilError, UnavailableError


class KeyringError(SigilError):
    """A keyring that cannot be parsed, or a data key wrapped by a key it does not hold."""


class DecryptionError(SigilError):
    """A ciphertext that does not authenticate for its record (tampered, swapped, wrong key)."""


class StoreUnavailableError(UnavailableError):
    """The secret store did not answer."""


class StaleRevisionError(SigilError):
    """The stored record changed since it was read (optimistic concurrency)."""


class KeyTakenError(SigilError):
    """The (organization, scope, key) index entry already exists."""


class PinnedVersionGoneError(NotFoundError):
    """A version a deployment revision was rendered with is no longer kept (forced cleanup).

    A re-render must fail naming the key and version, never fall back to another value.
    """
