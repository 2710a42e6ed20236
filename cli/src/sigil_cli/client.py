"""HTTP client of the ``sigil`` command: ``SIGIL_URL`` and ``SIGIL_TOKEN``."""

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"


class ApiError(Exception):
    """An error answer from the API (its code and message), or no answer at all."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})" if status else message)
        self.status = status
        self.code = code


class ApiClient:
    """Thin wrapper: JSON in, JSON out, the API's error shape turned into ApiError."""

    def __init__(self, url: str | None = None, token: str | None = None) -> None:
        self.url = (url or os.environ.get("SIGIL_URL") or DEFAULT_URL).rstrip("/")
        token = token or os.environ.get("SIGIL_TOKEN")
        if not token:
            raise ApiError(0, "no_token", "set SIGIL_TOKEN (see 'sigil token')")
        self._http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request; returns the decoded JSON body (None for 204)."""
        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise ApiError(0, "unreachable", f"cannot reach {self.url}: {err}") from err
        if resp.status_code == 204:
            return None
        if resp.status_code >= 400:
            try:
                error = resp.json()["error"]
            except (ValueError, KeyError, TypeError):
                error = {"code": "http_error", "message": resp.text[:200]}
            raise ApiError(resp.status_code, error.get("code", ""), error.get("message", ""))
        if resp.headers.get("content-type", "").startswith("application/json"):
            return resp.json()
        return resp.text

    def stream(self, path: str) -> Iterator[dict[str, Any]]:
        """Server-sent events of ``path`` as decoded JSON objects."""
        with self._http.stream("GET", path, timeout=None) as resp:
            if resp.status_code >= 400:
                resp.read()
                error = resp.json().get("error", {})
                raise ApiError(resp.status_code, error.get("code", ""), error.get("message", ""))
            for line in resp.iter_lines():
                if line.startswith("data: "):
                    yield json.loads(line[6:])
