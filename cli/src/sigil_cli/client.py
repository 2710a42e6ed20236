"""HTTP client of the ``sigil`` command: JSON in and out, the API's errors as ApiError."""

import base64
import binascii
import json
from collections.abc import Iterator
from typing import Any

import httpx

from sigil_cli.exitcodes import CliError, ExitCode, exit_for_status

DEFAULT_URL = "http://127.0.0.1:8080"
#: An unreachable gateway must fail within seconds, not hang a CI job.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0


class ApiError(CliError):
    """An error answer from the API (status, code, message, details), or no answer at all."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Any = None,
        exit_code: ExitCode | None = None,
    ) -> None:
        text = f"{message} ({code}, HTTP {status})" if status else message
        if exit_code is None:
            exit_code = exit_for_status(status)
        payload: dict[str, Any] = {"error": {"code": code, "message": message, "details": details}}
        if status:
            payload["status"] = status
        super().__init__(text, exit_code, payload=payload)
        self.status = status
        self.error_code = code
        self.details = details


def _api_error(resp: httpx.Response) -> ApiError:
    try:
        error = resp.json()["error"]
        return ApiError(
            resp.status_code,
            str(error.get("code", "")),
            str(error.get("message", "")),
            details=error.get("details"),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        # Not a Sigil error body (a proxy, another server): status only, never the body,
        # and no Sigil meaning read into its status (a proxy's 404 is not "no such secret").
        unavailable = resp.status_code in (502, 503, 504)
        return ApiError(
            resp.status_code,
            "http_error",
            f"unexpected answer from {resp.url.copy_with(query=None)}: is this a Sigil gateway?",
            exit_code=ExitCode.UNAVAILABLE if unavailable else ExitCode.OTHER,
        )


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified: only to pick a default scope, never to trust."""
    try:
        part = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


class ApiClient:
    """Thin wrapper over httpx: JSON in, JSON out, the API's error shape turned into ApiError."""

    def __init__(
        self, url: str | None, token: str | None, *, timeout: float = READ_TIMEOUT
    ) -> None:
        self.url = (url or DEFAULT_URL).rstrip("/")
        if not token:
            msg = "no token: pass --token or set SIGIL_TOKEN (see 'sigil token --help')"
            raise ApiError(0, "no_token", msg, exit_code=ExitCode.USAGE)
        self.token = token
        try:
            self._http = httpx.Client(
                base_url=self.url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT)),
            )
        except (httpx.InvalidURL, ValueError, TypeError) as err:
            msg = f"--url {self.url!r} is not a valid URL"
            raise ApiError(0, "bad_url", msg, exit_code=ExitCode.USAGE) from err

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def _unreachable(self, err: Exception) -> ApiError:
        msg = f"cannot reach {self.url}: {type(err).__name__}"
        return ApiError(0, "unreachable", msg, exit_code=ExitCode.UNAVAILABLE)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request; returns the decoded JSON body (None for 204)."""
        try:
            resp = self._http.request(method, path, **kwargs)
        except (httpx.HTTPError, httpx.InvalidURL) as err:
            raise self._unreachable(err) from err
        if resp.status_code == 204:
            return None
        if resp.status_code >= 400:
            raise _api_error(resp)
        try:
            return resp.json()
        except ValueError as err:
            msg = f"unexpected answer from {self.url} (not JSON): is this a Sigil gateway?"
            raise ApiError(resp.status_code, "bad_answer", msg) from err

    def paged(
        self, path: str, params: dict[str, str], *, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Every item of a cursor-paged listing (the first ``limit`` when given)."""
        params = {**params, "limit": str(min(limit or 1000, 1000))}
        items: list[dict[str, Any]] = []
        while limit is None or len(items) < limit:
            page = self.call("GET", path, params=params)
            items += page["items"]
            if not page.get("nextCursor"):
                break
            params["cursor"] = page["nextCursor"]
        return items if limit is None else items[:limit]

    def stream(self, path: str) -> Iterator[dict[str, Any]]:
        """Server-sent events of ``path`` as decoded JSON objects."""
        try:
            with self._http.stream(
                "GET", path, timeout=httpx.Timeout(None, connect=CONNECT_TIMEOUT)
            ) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise _api_error(resp)
                for line in resp.iter_lines():
                    if line.startswith("data: "):
                        yield json.loads(line[6:])
        except httpx.HTTPError as err:
            raise self._unreachable(err) from err
