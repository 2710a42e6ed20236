"""Development tokens signed with the embedded HS256 key."""

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from pathlib import Path

#: The roles of ``sigil_shared.contracts.Role`` (a unit test keeps the two equal); spelled
#: out here so ``sigil token`` does not import every contract model just to check one word.
ROLES = ("read_only", "read_write", "admin")


class TokenError(ValueError):
    """A token cannot be issued with these arguments."""


def signing_key(data_dir: Path) -> str:
    """The local key: ``SIGIL_JWT_KEY``, ``SIGIL_JWT_KEY_FILE`` or the data dir's ``jwt.key``."""
    inline = os.environ.get("SIGIL_JWT_KEY")
    if inline:
        return inline
    path = Path(os.environ.get("SIGIL_JWT_KEY_FILE") or data_dir / "jwt.key")
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError as err:
        msg = f"no signing key at {path}: run 'sigil up' once or set SIGIL_JWT_KEY"
        raise TokenError(msg) from err
    except (OSError, UnicodeDecodeError) as err:
        msg = f"cannot read the signing key at {path}: {getattr(err, 'strerror', None) or err}"
        raise TokenError(msg) from err


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def encode_hs256(claims: dict[str, object], key: str) -> str:
    """A compact JWS (RFC 7515) with HMAC-SHA-256: all ``sigil token`` needs of a JWT library."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.new(key.encode("utf-8"), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


def issue_token(
    key: str,
    *,
    org: str,
    role: str,
    customer_org: str | None = None,
    sub: str | None = None,
    ttl_seconds: int = 12 * 3600,
) -> str:
    """A signed JWT with the claims the gateway expects."""
    from sigil_shared.ids import id_problem  # noqa: PLC0415 - keeps `sigil --help` fast

    for name, value in (("--org", org), ("--customer-org", customer_org)):
        if value is not None and (problem := id_problem(value)):
            msg = f"{name} {problem}"
            raise TokenError(msg)
    if role not in ROLES:
        msg = f"--role must be one of {', '.join(ROLES)}"
        raise TokenError(msg)
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": sub or f"dev-{uuid.uuid4().hex[:8]}",
        "org": org,
        "role": role,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if customer_org:
        claims["customer_org"] = customer_org
    return encode_hs256(claims, key)
