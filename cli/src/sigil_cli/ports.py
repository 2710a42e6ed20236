"""``sigil up``'s pre-flight port check and the commands its banner prints."""

import errno
import os
import shlex
import shutil
import socket
import sys
from pathlib import Path


def port_problem(host: str, port: int, *, what: str, flag: str) -> str | None:
    """Why ``host:port`` cannot be listened on (one line naming it), or None when free.

    A test bind is the only reliable check: a connect misses a server that listens on
    another address of the same port, and an HTTP probe answers for *another* stack.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        return f"cannot listen on {host} ({what}): {err.strerror}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        # The servers set SO_REUSEADDR too: a port in TIME_WAIT is usable, a listener is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return (
                    f"port {port} on {host} ({what}) is already in use: stop what listens "
                    f"there or pick another port with {flag}"
                )
            return f"cannot listen on {host}:{port} ({what}): {err.strerror}"
    return None


def taken_port(
    *, host: str, port: int, nats_port: int | None, nats_host: str = "127.0.0.1"
) -> str | None:
    """The first port ``sigil up`` needs that is not free (NATS only when it starts one)."""
    problem = port_problem(host, port, what="gateway", flag="--port")
    if problem is None and nats_port is not None and nats_port > 0:
        problem = port_problem(nats_host, nats_port, what="embedded NATS", flag="--nats-port")
    return problem


def _program() -> str:
    """How to call this ``sigil`` again: its name when PATH finds this one, else its path."""
    invoked = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    found = shutil.which("sigil")
    if invoked is None or invoked.name != "sigil":
        return "sigil"
    if found and Path(found).resolve() == invoked:
        return "sigil"
    return shlex.quote(str(invoked))


def banner_commands(*, data_dir: Path, host: str, port: int) -> list[str]:
    """Banner lines with the exact token and URL commands for this data dir and port."""
    client_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - compare only
    if ":" in client_host:
        client_host = f"[{client_host}]"
    url = f"http://{client_host}:{port}"
    token_cmd = (
        f"{_program()} --data-dir {shlex.quote(os.path.abspath(data_dir))} "
        "token --org ORG --role admin"
    )
    return [
        f"  token:   {token_cmd}",
        f'  use:     export SIGIL_URL={url} SIGIL_TOKEN="$({token_cmd})"',
    ]
