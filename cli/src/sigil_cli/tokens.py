"""Development tokens signed with the embedded HS256 key."""

import os
import time
import uuid
from pathlib import Path

import jwt

from sigil_shared.contracts import Role
from sigil_shared.ids import id_problem


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
    for name, value in (("--org", org), ("--customer-org", customer_org)):
        if value is not None and (problem := id_problem(value)):
            msg = f"{name} {problem}"
            raise TokenError(msg)
    try:
        Role(role)
    except ValueError as err:
        msg = f"--role must be one of {', '.join(r.value for r in Role)}"
        raise TokenError(msg) from err
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
    return jwt.encode(claims, key, algorithm="HS256")
