"""HTTP through the gateway under ``wrk``, next to a FastAPI hello-world measured in the same run.

    .venv/bin/python -m bench.gateway_bench [--seconds 10] [--connections 16]

Starts ``sigil up`` (real sockets, loopback, every service a process) and a hello-world served
by uvicorn's automatic loop and parser (uvloop + httptools when installed, as the gateway
uses), seeds 150 secrets, then runs wrk for each path: ``GET /api/v1/secrets?limit=100``
(a full page of 100), ``POST /api/v1/secrets`` (a unique key per request), ``GET /healthz``,
and the hello-world's GET and POST; then the gateway alone, with a canned responder
(``bench.canned_secrets``) standing in for the secrets service on a bare nats-server. Reports
requests/s, p50/p99 latency and CPU ms per request of the gateway and secrets processes
(``/proc`` deltas: wall-clock rates are noisy on a shared machine). Asserts nothing. Skips
with a message when ``wrk`` is missing.
"""

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.wrk import WrkResult, run_wrk, wrk_missing
from sigil_cli.tokens import issue_token
from tests.helpers import descendants, free_port

SEED = 150


def _wait(url: str) -> None:
    for _ in range(1200):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


def _service_pids(root: int) -> dict[str, int]:
    """The gateway's and the secrets service's process ids below ``sigil up``."""
    found: dict[str, int] = {}
    for pid in descendants(root):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        for name in ("gateway", "secrets"):
            if f"sigil_{name}".encode() in cmdline:
                found[name] = pid
    return found


def _row(label: str, result: WrkResult, processes: tuple[str, ...]) -> str:
    cpu = "".join(f"{result.cpu_ms_per_request.get(p, 0):>10.2f}" for p in processes)
    failed = result.errors + result.non_2xx
    return (
        f"{label:<34}{result.rate:>9.0f}{result.p50_ms:>9.1f}{result.p99_ms:>9.1f}{cpu}{failed:>8}"
    )


def _list_and_create(
    labels: tuple[str, str],
    base: str,
    *,
    auth: dict[str, str],
    body: str,
    pids: dict[str, int],
    load: dict[str, Any],
) -> list[tuple[str, WrkResult]]:
    """wrk on ``GET /api/v1/secrets?limit=100`` and ``POST /api/v1/secrets`` of ``base``."""
    secrets_url = f"{base}/api/v1/secrets"
    return [
        (
            labels[0],
            run_wrk(f"{secrets_url}?limit=100", headers=auth, processes=pids, **load),
        ),
        (
            labels[1],
            run_wrk(secrets_url, headers=auth, method="POST", body=body, processes=pids, **load),
        ),
    ]


def _isolated(bin_dir: Path, body: str, load: dict[str, Any]) -> list[tuple[str, WrkResult]]:
    """The gateway alone: a canned responder stands in for the secrets service."""
    nats_port, port = free_port(), free_port()
    url = f"nats://127.0.0.1:{nats_port}"
    key = secrets.token_hex(32)
    server = subprocess.Popen(
        [str(bin_dir / "nats-server"), "-a", "127.0.0.1", "-p", str(nats_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    procs: list[subprocess.Popen[Any]] = [server]
    try:
        _wait_tcp(nats_port)
        canned = subprocess.Popen(
            [sys.executable, "-m", "bench.canned_secrets", url],
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(canned)
        assert canned.stdout is not None
        canned.stdout.readline()  # "ready"
        env = dict(
            os.environ,
            SIGIL_NATS_URL=url,
            SIGIL_JWT_KEY=key,
            SIGIL_PORT=str(port),
            SIGIL_LOG_LEVEL="WARNING",
        )
        gateway = subprocess.Popen([sys.executable, "-m", "sigil_gateway"], env=env)
        procs.append(gateway)
        base = f"http://127.0.0.1:{port}"
        _wait(f"{base}/healthz")
        auth = {"Authorization": f"Bearer {issue_token(key, org='bench', role='admin')}"}
        pids = {"gateway": gateway.pid, "secrets": canned.pid}
        return [
            *_list_and_create(
                ("gateway alone GET list (canned)", "gateway alone POST (canned)"),
                base,
                auth=auth,
                body=body,
                pids=pids,
                load=load,
            ),
        ]
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait()


def _wait_tcp(port: int) -> None:
    for _ in range(200):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    missing = wrk_missing()
    if missing:
        print(f"skipped: {missing}")
        return
    data = Path(tempfile.mkdtemp(prefix="sigil-gw-bench-"))
    bin_dir = Path(sys.executable).parent
    port, hello_port = free_port(), free_port()
    env = dict(os.environ, SIGIL_LOG_LEVEL="WARNING")
    sigil = [str(bin_dir / "sigil"), "--data-dir", str(data)]
    stack = subprocess.Popen(
        [*sigil, "up", "--nats-port", "-1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    uvicorn = [str(bin_dir / "uvicorn"), "bench.hello_app:app", "--port", str(hello_port)]
    hello = subprocess.Popen(
        [*uvicorn, "--loop", "auto", "--http", "auto", "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    hello_base = f"http://127.0.0.1:{hello_port}"
    load = {"seconds": args.seconds, "connections": args.connections}
    try:
        _wait(f"{base}/readyz")
        _wait(f"{hello_base}/hello")
        token = subprocess.run(
            [*sigil, "token", "--org", "bench", "--role", "admin"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
            for n in range(SEED):
                client.post("/api/v1/secrets", json={"key": f"SEED_{n:04d}", "value": "v" * 24})
            page = client.get("/api/v1/secrets?limit=100").json()["items"]
        pids = _service_pids(stack.pid)
        body = '{"key": "K{n}", "value": "' + "v" * 24 + '"}'
        results = [
            *_list_and_create(
                ("sigil GET /api/v1/secrets?limit=100", "sigil POST /api/v1/secrets"),
                base,
                auth=auth,
                body=body,
                pids=pids,
                load=load,
            ),
            ("sigil GET /healthz", run_wrk(f"{base}/healthz", processes=pids, **load)),
            (
                "hello-world GET /hello",
                run_wrk(f"{hello_base}/hello", processes={"gateway": hello.pid}, **load),
            ),
            (
                "hello-world POST /hello",
                run_wrk(
                    f"{hello_base}/hello",
                    method="POST",
                    body='{"key": "K{n}", "value": "v"}',
                    processes={"gateway": hello.pid},
                    **load,
                ),
            ),
        ]
    finally:
        for proc in (stack, hello):
            proc.terminate()
        for proc in (stack, hello):
            proc.wait()
    results += _isolated(bin_dir, body, load)
    print(
        f"wrk, {args.connections} connections, {args.seconds:g}s per path, list pages of "
        f"{len(page)} ({os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')})"
    )
    print(
        "CPU columns: ms per request of the gateway (hello-world: its process) and of the "
        "secrets service (gateway alone: of the canned responder)"
    )
    print(
        f"{'path':<34}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'gw CPU':>10}{'sec CPU':>10}{'failed':>8}"
    )
    for label, result in results:
        print(_row(label, result, ("gateway", "secrets")))


if __name__ == "__main__":
    main()
