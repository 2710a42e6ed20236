"""The verified-token cache: hits skip verification, expiry and its bound are honoured."""

import time

import jwt
import pytest

from sigil_gateway.auth import (
    CACHE_ENTRIES,
    CACHE_SECONDS,
    LEEWAY_SECONDS,
    TokenVerifier,
    UnauthenticatedError,
)

KEY = "unit-test-hs256-key-0123456789abcdef"


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _token(exp: float, sub: str = "u1", key: str = KEY) -> str:
    claims = {"sub": sub, "org": "acme", "role": "admin", "exp": exp}
    return "Bearer " + jwt.encode(claims, key, algorithm="HS256")


def test_a_verified_token_is_served_from_the_cache_until_it_expires() -> None:
    clock = Clock()
    verifier = TokenVerifier(hs256_key=KEY, jwks=None, clock=clock)
    header = _token(clock.now + 60)
    assert verifier.cached(header) is None
    actor = verifier.actor(header)
    assert verifier.cached(header) == actor
    clock.now += 60 + LEEWAY_SECONDS - 1
    assert verifier.cached(header) == actor
    clock.now += 2
    assert verifier.cached(header) is None


def test_a_long_lived_token_is_checked_again_after_the_cache_bound() -> None:
    clock = Clock()
    verifier = TokenVerifier(hs256_key=KEY, jwks=None, clock=clock)
    header = _token(clock.now + 30 * 24 * 3600)
    verifier.actor(header)
    clock.now += CACHE_SECONDS + 1
    assert verifier.cached(header) is None


def test_refused_tokens_are_never_cached() -> None:
    verifier = TokenVerifier(hs256_key=KEY, jwks=None)
    forged = _token(time.time() + 60, key="another-key-entirely-0123456789abcdef")
    expired = _token(time.time() - LEEWAY_SECONDS - 5)
    for header in (forged, expired):
        with pytest.raises(UnauthenticatedError):
            verifier.actor(header)
        assert verifier.cached(header) is None


async def test_an_expired_cached_token_is_refused_by_actor_async() -> None:
    clock = Clock()
    verifier = TokenVerifier(hs256_key=KEY, jwks=None, clock=clock)
    # Really expired for jwt (beyond the leeway); the fake clock says "cached earlier".
    header = _token(time.time() - LEEWAY_SECONDS - 5)
    with pytest.raises(UnauthenticatedError):
        await verifier.actor_async(header)
    valid = _token(time.time() + 60)
    assert (await verifier.actor_async(valid)).organization_id == "acme"


def test_the_cache_is_bounded() -> None:
    verifier = TokenVerifier(hs256_key=KEY, jwks=None)
    first = _token(time.time() + 600, sub="first")
    verifier.actor(first)
    for n in range(CACHE_ENTRIES):
        verifier.actor(_token(time.time() + 600, sub=f"u{n}"))
    assert verifier.cached(first) is None
    assert len(verifier._cache) == CACHE_ENTRIES
