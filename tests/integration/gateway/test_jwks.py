"""Production auth: RS256/ES256 tokens verified against a JWKS URL (served on loopback)."""

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.helpers import NatsFixture
from tests.integration.stack import running_stack


class _Keys:
    def __init__(self) -> None:
        self.jwks: dict[str, Any] = {"keys": []}
        self.fetches = 0


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, _Keys]]:
    keys = _Keys()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            keys.fetches += 1
            body = json.dumps(keys.jwks).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            del args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", keys
    server.shutdown()
    server.server_close()


def _jwk(public_key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = RSAAlgorithm if alg == "RS256" else ECAlgorithm
    jwk: dict[str, Any] = json.loads(algorithm.to_jwk(public_key))
    return jwk | {"kid": kid, "alg": alg, "use": "sig"}


def _token(private_key: Any, kid: str, alg: str, org: str) -> dict[str, str]:
    claims = {"sub": "ops", "org": org, "role": "admin", "exp": time.time() + 300}
    token = jwt.encode(claims, private_key, algorithm=alg, headers={"kid": kid})
    return {"Authorization": f"Bearer {token}"}


async def test_rs256_and_es256_from_jwks_with_refresh_on_unknown_kid(
    nats_server: NatsFixture, jwks_server: tuple[str, _Keys], unique: str
) -> None:
    url, keys = jwks_server
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    keys.jwks["keys"] = [_jwk(rsa_key.public_key(), "rsa-1", "RS256")]
    org = f"jw-{unique}"
    async with running_stack(
        nats_server,
        services=("secrets",),
        overrides={"gateway": {"jwks_url": url, "jwt_key_file": None, "jwks_refresh_cooldown": 0}},
    ) as stack:
        ok = await stack.http.get("/api/v1/secrets", headers=_token(rsa_key, "rsa-1", "RS256", org))
        assert ok.status_code == 200
        # A key added later (rotation at the identity provider) is fetched on first sight.
        keys.jwks["keys"].append(_jwk(ec_key.public_key(), "ec-1", "ES256"))
        rotated = await stack.http.get(
            "/api/v1/secrets", headers=_token(ec_key, "ec-1", "ES256", org)
        )
        assert rotated.status_code == 200
        assert keys.fetches >= 2
        impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = await stack.http.get(
            "/api/v1/secrets", headers=_token(impostor, "rsa-1", "RS256", org)
        )
        assert forged.status_code == 401
        unknown = await stack.http.get(
            "/api/v1/secrets", headers=_token(impostor, "nope", "RS256", org)
        )
        assert unknown.status_code == 401
