"""Envelope encryption: round trip, AAD binding, rotation, wrong and retired keys."""

import base64
from dataclasses import replace

import pytest

from sigil_secrets.domain.crypto import (
    Keyring,
    new_key_entry,
    open_envelope,
    record_aad,
    rewrap,
    seal,
)
from sigil_secrets.errors import DecryptionError, KeyringError

VALUE = "p@ss:wörd\nsecond line ✓"


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.parse(new_key_entry("k1"))


def test_round_trip_keeps_unicode_and_newlines(keyring: Keyring) -> None:
    aad = record_aad("acme", None, "DB_PASSWORD", 1)
    envelope = seal(keyring, VALUE, aad)
    assert VALUE.encode() not in envelope.ciphertext
    assert open_envelope(keyring, envelope, aad) == VALUE


def test_each_version_gets_its_own_data_key_and_nonce(keyring: Keyring) -> None:
    aad = record_aad("acme", None, "K", 1)
    first, second = seal(keyring, VALUE, aad), seal(keyring, VALUE, aad)
    assert first.wrapped_key != second.wrapped_key
    assert first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext


@pytest.mark.parametrize(
    "other",
    [
        ("globex", None, "DB_PASSWORD", 1),
        ("acme", "cust-1", "DB_PASSWORD", 1),
        ("acme", None, "DB_PASSWORD2", 1),
        ("acme", None, "DB_PASSWORD", 2),
    ],
)
def test_ciphertext_moved_to_another_record_fails_loudly(
    keyring: Keyring, other: tuple[str, str | None, str, int]
) -> None:
    envelope = seal(keyring, VALUE, record_aad("acme", None, "DB_PASSWORD", 1))
    with pytest.raises(DecryptionError, match="does not authenticate"):
        open_envelope(keyring, envelope, record_aad(*other))


def test_tampered_ciphertext_fails(keyring: Keyring) -> None:
    aad = record_aad("acme", None, "K", 1)
    envelope = seal(keyring, VALUE, aad)
    flipped = bytes([envelope.ciphertext[0] ^ 1]) + envelope.ciphertext[1:]
    with pytest.raises(DecryptionError):
        open_envelope(keyring, replace(envelope, ciphertext=flipped), aad)


def test_rotation_rewraps_without_touching_the_value(keyring: Keyring) -> None:
    aad = record_aad("acme", None, "K", 3)
    envelope = seal(keyring, VALUE, aad)
    new_key = Keyring.parse(new_key_entry("k2")).keys["k2"]
    rotated = Keyring(keys={"k2": new_key, "k1": keyring.keys["k1"]}, current="k2")
    assert rotated.current == "k2"
    moved = rewrap(rotated, envelope)
    assert moved.kek_id == "k2"
    assert moved.ciphertext == envelope.ciphertext
    assert open_envelope(rotated, moved, aad) == VALUE
    retired = Keyring(keys={"k2": rotated.keys["k2"]}, current="k2")
    assert open_envelope(retired, moved, aad) == VALUE
    with pytest.raises(KeyringError, match="'k1', which is not in the keyring"):
        open_envelope(retired, envelope, aad)


def test_wrong_key_with_the_same_id_is_a_clear_error(keyring: Keyring) -> None:
    aad = record_aad("acme", None, "K", 1)
    envelope = seal(keyring, VALUE, aad)
    impostor = Keyring.parse(new_key_entry("k1"))
    with pytest.raises(DecryptionError, match="wrong key"):
        open_envelope(impostor, envelope, aad)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("nokey", "id:base64key"),
        ("k1:not-base64!", "not valid base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "32 bytes"),
        (new_key_entry("k1") + "," + new_key_entry("k1"), "appears twice"),
    ],
)
def test_bad_keyrings_are_refused(text: str, message: str) -> None:
    with pytest.raises(KeyringError, match=message):
        Keyring.parse(text)


def test_keyring_errors_never_contain_key_material() -> None:
    entry = "k1:" + base64.b64encode(b"x" * 31).decode()
    with pytest.raises(KeyringError) as info:
        Keyring.parse(entry)
    assert entry.split(":", 1)[1] not in str(info.value)
