"""``sigil up``: the whole stack as child processes on an embedded (or given) NATS."""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx
from nats.errors import Error as NatsError

from sigil_cli.embedded import (
    SERVICE_MODULES,
    DataDir,
    EmbeddedError,
    NatsServer,
    nats_config,
    set_parent_death_signal,
)


@dataclass
class StackOptions:
    """What ``sigil up`` was asked for."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    nats_url: str | None = None
    nats_port: int = 4222
    ready_timeout: float = 60.0
    extra_env: dict[str, str] = field(default_factory=dict)


#: Seconds the services get, together, to stop after SIGTERM before they are killed.
STOP_GRACE = 5.0


class StopRequestedError(EmbeddedError):
    """SIGTERM or SIGINT arrived while the stack was starting."""


class Stack:
    """Starts NATS and the four services, waits for readiness, stops everything."""

    def __init__(self, options: StackOptions, *, stop: threading.Event | None = None) -> None:
        self.options = options
        self.data = DataDir(options.data_dir)
        self.nats: NatsServer | None = None
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.nats_url = options.nats_url or ""
        #: Set by SIGTERM/SIGINT: every wait below gives up at once when it is.
        self.stopping = stop or threading.Event()

    @property
    def gateway_url(self) -> str:
        """Base URL of the gateway."""
        return f"http://{self.options.host}:{self.options.port}"

    def _service_env(self, service: str, passwords: dict[str, str]) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "SIGIL_NATS_URL": self.nats_url,
                "SIGIL_KEK_FILE": str(self.data.kek_file),
                "SIGIL_AUDIT_KEY_FILE": str(self.data.audit_key_file),
                "SIGIL_JWT_KEY_FILE": str(self.data.jwt_key_file),
                "SIGIL_HOST": self.options.host,
                "SIGIL_PORT": str(self.options.port),
            }
        )
        if passwords:
            env["SIGIL_NATS_USER"] = service
            env["SIGIL_NATS_PASSWORD"] = passwords[service]
        env.update(self.options.extra_env)
        return env

    def start(self) -> None:
        """Bring everything up and return once ``/readyz`` answers 200."""
        self.data.prepare()
        passwords: dict[str, str] = {}
        if not self.options.nats_url:
            passwords = self.data.passwords()
            self.data.nats_conf.write_text(
                nats_config(
                    passwords=passwords,
                    store_dir=self.data.jetstream_dir,
                    port=self.options.nats_port,
                ),
                encoding="utf-8",
            )
            os.chmod(self.data.nats_conf, 0o600)
            log = (self.data.root / "nats-server.log").open("a", encoding="utf-8")
            self.nats = NatsServer(self.data.nats_conf, log=log)
            self.nats_url = self.nats.start()
            self.data.nats_url_file.write_text(self.nats_url + "\n", encoding="utf-8")
            self._setup("bootstrap", passwords["bootstrap"])
        else:
            # An existing NATS: the setup step runs with SIGIL_SETUP_NATS_USER/_PASSWORD when
            # given (its bootstrap user), else the services' own credentials (a development
            # server without users); a server that refuses them stops here, naming it.
            env = {**os.environ, **self.options.extra_env}
            self._setup(
                env.get("SIGIL_SETUP_NATS_USER", env.get("SIGIL_NATS_USER")),
                env.get("SIGIL_SETUP_NATS_PASSWORD", env.get("SIGIL_NATS_PASSWORD")),
            )
        for service, module in SERVICE_MODULES:
            self._check_stopping()
            self.children[service] = subprocess.Popen(  # noqa: S603 - our own modules
                [sys.executable, "-m", module],
                env=self._service_env(service, passwords),
                preexec_fn=set_parent_death_signal,  # noqa: PLW1509 - only sets a signal
            )
        self._wait_ready()

    def _setup(self, user: str | None, password: str | None) -> None:
        """The setup step before any service starts: streams and buckets, as ``bootstrap``."""
        from pydantic import SecretStr  # noqa: PLC0415 - keeps CLI start fast

        from sigil_shared.settings import SetupSettings  # noqa: PLC0415
        from sigil_shared.setup import setup_streams  # noqa: PLC0415

        settings = SetupSettings(
            nats_url=self.nats_url,
            nats_user=user,
            nats_password=SecretStr(password) if password is not None else None,
        )
        try:
            asyncio.run(setup_streams(settings))
        except (OSError, TimeoutError, NatsError) as err:
            msg = f"setup step failed: {type(err).__name__}: {err}"
            raise EmbeddedError(msg) from err

    def _check_stopping(self) -> None:
        if self.stopping.is_set():
            raise StopRequestedError

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.options.ready_timeout
        last = "gateway not answering yet"
        with httpx.Client(timeout=0.5) as client:
            while time.monotonic() < deadline:
                self._check_stopping()
                self.check_children()
                try:
                    resp = client.get(f"{self.gateway_url}/readyz")
                except httpx.HTTPError:
                    self.stopping.wait(0.05)
                    continue
                if resp.status_code == 200:
                    return
                last = resp.json().get("error", {}).get("message", resp.text)
                self.stopping.wait(0.05)
        msg = f"stack not ready after {self.options.ready_timeout:g}s: {last}"
        raise EmbeddedError(msg)

    def check_children(self) -> None:
        """Raise if a service process has exited."""
        for name, proc in self.children.items():
            code = proc.poll()
            if code is not None:
                msg = f"service {name} exited with status {code}"
                raise EmbeddedError(msg)

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM every service, give them ``grace`` seconds together, SIGKILL the rest.

        A service busy in a long handler (or stopped) cannot act on SIGTERM; it is killed
        when the grace runs out, so ``sigil up`` always stops within a bounded time.
        """
        for proc in self.children.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + grace
        for proc in self.children.values():
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.nats is not None:
            self.nats.stop(timeout=grace)


def run_stack(options: StackOptions) -> int:
    """Run until SIGINT/SIGTERM or until a service dies; returns the exit status."""
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    from sigil_cli.ports import banner_commands, taken_port  # noqa: PLC0415 - only here

    taken = taken_port(
        host=options.host,
        port=options.port,
        nats_port=None if options.nats_url else options.nats_port,
    )
    if taken:
        # Checked before anything starts: polling /readyz would find *another* stack's.
        print(f"sigil up: {taken}", file=sys.stderr)
        return 4
    stack = Stack(options, stop=stop)
    started = time.monotonic()
    try:
        stack.start()
        print(f"Sigil is ready in {time.monotonic() - started:.1f}s")
        print(f"  gateway: {stack.gateway_url}  (API under /api/v1, docs at /docs)")
        print(f"  NATS:    {stack.nats_url}")
        print(f"  data:    {stack.data.root}")
        for line in banner_commands(data_dir=stack.data.root, host=options.host, port=options.port):
            print(line)
        print("Press Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            stack.check_children()
    except StopRequestedError:
        print("sigil up: stopped before the stack was ready", file=sys.stderr)
        return 0
    except EmbeddedError as err:
        print(f"sigil up: {err}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
    return 0
