"""Envelope encryption: AES-256-GCM per version, data keys wrapped by a keyring's KEK."""

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sigil_secrets.domain.model import Envelope
from sigil_secrets.errors import DecryptionError, KeyringError

_KEY_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_NONCE_BYTES = 12
_KEY_BYTES = 32


@dataclass(frozen=True)
class Keyring:
    """Key-encryption keys by id; ``current`` wraps new data keys, the rest only unwrap."""

    keys: Mapping[str, bytes]
    current: str

    @classmethod
    def parse(cls, text: str) -> "Keyring":
        """Parse ``id:base64key`` entries separated by commas or newlines; the first is current."""
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for raw in re.split(r"[,\n]", text):
            entry = raw.strip()
            if not entry or entry.startswith("#"):
                continue
            key_id, sep, encoded = entry.partition(":")
            if not sep or not _KEY_ID_RE.fullmatch(key_id):
                msg = "keyring entry must be 'id:base64key' with an id of [A-Za-z0-9_.-]"
                raise KeyringError(msg)
            try:
                material = base64.b64decode(encoded.strip(), validate=True)
            except binascii.Error as err:
                msg = f"keyring entry {key_id!r} is not valid base64"
                raise KeyringError(msg) from err
            if len(material) != _KEY_BYTES:
                msg = f"keyring entry {key_id!r} must decode to 32 bytes (AES-256)"
                raise KeyringError(msg)
            if key_id in keys:
                msg = f"keyring entry {key_id!r} appears twice"
                raise KeyringError(msg)
            keys[key_id] = material
            order.append(key_id)
        if not order:
            raise KeyringError("keyring is empty")
        return cls(keys=keys, current=order[0])

    def key(self, key_id: str) -> bytes:
        """The KEK with this id, or a clear error naming the id (retired or wrong keyring)."""
        try:
            return self.keys[key_id]
        except KeyError as err:
            msg = (
                f"data key is wrapped by key-encryption key {key_id!r}, which is not in the keyring"
            )
            raise KeyringError(msg) from err


def new_key_entry(key_id: str) -> str:
    """A fresh ``id:base64key`` keyring line."""
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


def record_aad(organization_id: str, scope: str | None, key: str, version: int) -> bytes:
    """Associated data binding a ciphertext to (organization, scope, key, version)."""
    # \x1f cannot occur in ids or keys, so the encoding is unambiguous.
    return "\x1f".join(("sigil/v1", organization_id, scope or "", key, str(version))).encode()


def _wrap_aad(key_id: str) -> bytes:
    return b"sigil-dek/v1\x1f" + key_id.encode()


def seal(keyring: Keyring, value: str, aad: bytes) -> Envelope:
    """Encrypt ``value`` under a fresh data key wrapped by the current KEK."""
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(_NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, value.encode("utf-8"), aad)
    return _wrap(keyring, data_key, nonce=nonce, ciphertext=ciphertext)


def _wrap(keyring: Keyring, data_key: bytes, *, nonce: bytes, ciphertext: bytes) -> Envelope:
    key_nonce = os.urandom(_NONCE_BYTES)
    kek_id = keyring.current
    wrapped = AESGCM(keyring.key(kek_id)).encrypt(key_nonce, data_key, _wrap_aad(kek_id))
    return Envelope(kek_id, wrapped, key_nonce, nonce, ciphertext)


def _unwrap(keyring: Keyring, envelope: Envelope) -> bytes:
    kek = keyring.key(envelope.kek_id)
    try:
        return AESGCM(kek).decrypt(
            envelope.key_nonce, envelope.wrapped_key, _wrap_aad(envelope.kek_id)
        )
    except InvalidTag as err:
        msg = f"data key does not unwrap with key-encryption key {envelope.kek_id!r} (wrong key)"
        raise DecryptionError(msg) from err


def open_envelope(keyring: Keyring, envelope: Envelope, aad: bytes) -> str:
    """Decrypt, failing loudly if the ciphertext was moved onto another record."""
    data_key = _unwrap(keyring, envelope)
    try:
        plain = AESGCM(data_key).decrypt(envelope.nonce, envelope.ciphertext, aad)
    except InvalidTag as err:
        msg = "ciphertext does not authenticate for this record (tampered or swapped)"
        raise DecryptionError(msg) from err
    return plain.decode("utf-8")


def rewrap(keyring: Keyring, envelope: Envelope) -> Envelope:
    """The same ciphertext with its data key wrapped by the current KEK."""
    if envelope.kek_id == keyring.current:
        return envelope
    data_key = _unwrap(keyring, envelope)
    return _wrap(keyring, data_key, nonce=envelope.nonce, ciphertext=envelope.ciphertext)
