"""Bearer JWT authentication: HS256 with the local key, or RS256/ES256 from a JWKS URL."""

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from jwt import PyJWKClient

from sigil_shared.contracts import Actor, Role
from sigil_shared.errors import ErrorCode, SigilError
from sigil_shared.ids import id_problem
from sigil_shared.settings import GatewaySettings

LEEWAY_SECONDS = 30
#: Verified tokens kept in memory (least recently used dropped first).
CACHE_ENTRIES = 4096
#: Longest a verified token is trusted without checking it again, so a key removed from the
#: JWKS stops working within this time even for tokens that have not expired.
CACHE_SECONDS = 300.0
#: Tokens longer than this are verified every time rather than cached (memory bound).
CACHE_TOKEN_MAX = 8192


class UnauthenticatedError(SigilError):
    """Missing, malformed, expired or wrongly signed token (401)."""

    code = ErrorCode.UNAUTHENTICATED


@dataclass
class TokenVerifier:
    """Verifies tokens and turns their claims into an Actor."""

    hs256_key: str | None
    jwks: PyJWKClient | None
    #: Wall clock, the one ``exp`` is measured on (a parameter so tests can move it).
    clock: Callable[[], float] = time.time
    #: token -> (actor, deadline): verifying a JWT from scratch costs more than the rest
    #: of a cheap request, and the same token comes back on every call.
    #: Keyed by the header's SHA-256, so the cache holds no bearer token itself.
    _cache: "OrderedDict[bytes, tuple[Actor, float]]" = field(default_factory=OrderedDict)

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> "TokenVerifier":
        """HS256 key from SIGIL_JWT_KEY(_FILE); JWKS client (cached) from SIGIL_JWKS_URL."""
        key = settings.jwt_key.get_secret_value() if settings.jwt_key else None
        if key is None and settings.jwt_key_file is not None:
            key = Path(settings.jwt_key_file).read_text(encoding="utf-8").strip()
        jwks = (
            PyJWKClient(
                settings.jwks_url,
                cache_keys=True,
                lifespan=300,
                cooldown_duration=settings.jwks_refresh_cooldown,
            )
            if settings.jwks_url
            else None
        )
        return cls(hs256_key=key, jwks=jwks)

    def _decode(self, token: str) -> dict[str, Any]:
        options: Any = {"require": ["exp", "sub", "org", "role"]}
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as err:
            raise UnauthenticatedError("malformed bearer token") from err
        algorithm = header.get("alg")
        if algorithm == "HS256" and self.hs256_key:
            key: Any = self.hs256_key
        elif algorithm in ("RS256", "ES256") and self.jwks is not None:
            try:
                # PyJWKClient refetches the key set when the kid is unknown.
                key = self.jwks.get_signing_key_from_jwt(token).key
            except jwt.PyJWTError as err:
                raise UnauthenticatedError("token signed by an unknown key") from err
        else:
            raise UnauthenticatedError(f"token algorithm {algorithm!s:.16} is not accepted")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[algorithm], options=options, leeway=LEEWAY_SECONDS
            )
        except jwt.ExpiredSignatureError as err:
            raise UnauthenticatedError("token has expired") from err
        except jwt.MissingRequiredClaimError as err:
            raise UnauthenticatedError(f"token lacks the {err.claim} claim") from err
        except jwt.PyJWTError as err:
            raise UnauthenticatedError("token signature or claims are invalid") from err
        return claims

    def cached(self, authorization: str | None) -> Actor | None:
        """The Actor of a token verified earlier and still within its lifetime, if any."""
        if not authorization:
            return None
        key = _cache_key(authorization)
        entry = self._cache.get(key)
        if entry is None:
            return None
        actor, deadline = entry
        if self.clock() >= deadline:
            # Expired (or trusted long enough): forget it; the caller verifies again and
            # an expired token is refused exactly as it would be uncached.
            self._cache.pop(key, None)
            return None
        self._cache.move_to_end(key)
        return actor

    async def actor_async(self, authorization: str | None) -> Actor:
        """``actor`` with the cache, never blocking the event loop on a JWKS fetch."""
        hit = self.cached(authorization)
        if hit is not None:
            return hit
        if self.jwks is not None and authorization and not _is_hs256(authorization):
            # A JWKS refetch is blocking HTTP: keep it off the event loop (cache misses only).
            return await asyncio.to_thread(self.actor, authorization)
        return self.actor(authorization)

    async def is_valid(self, authorization: str) -> bool:
        """True when the header carries a valid token (verified once, then cached)."""
        try:
            await self.actor_async(authorization)
        except UnauthenticatedError:
            return False
        return True

    def actor(self, authorization: str | None) -> Actor:
        """The Actor for an ``Authorization: Bearer ...`` header, or 401."""
        if not authorization:
            raise UnauthenticatedError("missing bearer token (Authorization: Bearer ...)")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthenticatedError("authorization must be 'Bearer <token>'")
        claims = self._decode(token.strip())
        actor = self._actor_from(claims)
        self._remember(authorization, actor, claims["exp"])
        return actor

    def _remember(self, authorization: str, actor: Actor, exp: Any) -> None:
        if len(authorization) > CACHE_TOKEN_MAX or not isinstance(exp, int | float):
            return
        # Trusted until it expires (with the same leeway as verification), and re-checked at
        # least every CACHE_SECONDS.
        now = self.clock()
        deadline = min(float(exp) + LEEWAY_SECONDS, now + CACHE_SECONDS)
        if deadline <= now:
            return
        key = _cache_key(authorization)
        self._cache[key] = (actor, deadline)
        self._cache.move_to_end(key)
        while len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)

    @staticmethod
    def _actor_from(claims: dict[str, Any]) -> Actor:
        org, customer, role = claims.get("org"), claims.get("customer_org"), claims.get("role")
        if not isinstance(org, str) or id_problem(org):
            raise UnauthenticatedError("token org claim is not a valid organization id")
        if customer is not None and (not isinstance(customer, str) or id_problem(customer)):
            raise UnauthenticatedError("token customer_org claim is not a valid id")
        try:
            parsed_role = Role(str(role))
        except ValueError as err:
            raise UnauthenticatedError("token role must be read_only, read_write or admin") from err
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > 256:
            raise UnauthenticatedError("token sub claim must be a non-empty string")
        return Actor(
            user_id=subject,
            organization_id=org,
            customer_organization_id=customer,
            role=parsed_role,
        )


def _cache_key(authorization: str) -> bytes:
    return hashlib.sha256(authorization.encode("utf-8", "surrogateescape")).digest()


def _is_hs256(authorization: str) -> bool:
    token = authorization.partition(" ")[2].strip()
    try:
        return bool(jwt.get_unverified_header(token).get("alg") == "HS256")
    except jwt.PyJWTError:
        return True  # malformed: refused inline without any fetch
