"""The ``sigil`` command against a live ``sigil up``: what a person and a CI script see.

Every run goes through the installed console script in a child process, so exit codes,
stdout/stderr separation, terminal echo and broken pipes are the real ones.
"""

import io
import json
import os
import pty
import select
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest

from sigil_cli.main import main
from sigil_cli.tokens import issue_token, signing_key
from sigil_shared import subjects
from tests.e2e.conftest import LiveStack, start_sigil_up, stop_sigil_up, wait_for_line
from tests.helpers import free_port

pytestmark = pytest.mark.slow
SIGIL = str(Path(sys.executable).parent / "sigil")
VALUE = "cli-secret-value-8675309"
#: Canaries: every value a test sends; none may ever appear in any output.
CANARIES = (
    VALUE,
    "second-value-000111",
    "third-value-222333",
    "imported-api-key-4711",
    "prompted-value-13579",
)


@dataclass
class CliStack(LiveStack):
    """A running ``sigil up`` and the banner it printed."""

    banner: list[str]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliStack]:
    data_dir = tmp_path_factory.mktemp("cli") / "data"
    port = free_port()
    proc = start_sigil_up(data_dir, "--nats-port", "-1", "--port", str(port))
    try:
        banner = wait_for_line(proc, "Press Ctrl-C to stop", timeout=60)
        yield CliStack(url=f"http://127.0.0.1:{port}", data_dir=data_dir, proc=proc, banner=banner)
    finally:
        stop_sigil_up(proc)


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without any SIGIL_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGIL_")}
    env.update(extra)
    return env


def sigil(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the console script; ``timeout`` is a generous bound, never a timing assertion."""
    return subprocess.run(
        [SIGIL, *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=env if env is not None else _clean_env(),
        timeout=timeout,
        check=False,
    )


Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Runner:
    """``sigil`` in this process (same ``main``, same error boundary): fast on a loaded machine.

    Only the SIGIL_* variables of ``env`` apply. What needs a real process (exit status,
    terminal, pipes, signals) runs through :func:`sigil` instead.
    """

    def invoke(
        *args: str, env: dict[str, str] | None = None, stdin: str = ""
    ) -> subprocess.CompletedProcess[str]:
        for name in [k for k in os.environ if k.startswith("SIGIL_")]:
            monkeypatch.delenv(name)
        for name, value in (env or {}).items():
            if name.startswith("SIGIL_"):
                monkeypatch.setenv(name, value)
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, out, err)

    return invoke


def make_token(
    stack: LiveStack, org: str, role: str = "admin", customer: str | None = None, sub: str = "u1"
) -> str:
    """What ``sigil token`` prints, without starting a process per token."""
    return issue_token(
        signing_key(stack.data_dir), org=org, role=role, customer_org=customer, sub=sub
    )


def api_env(stack: CliStack, token: str) -> dict[str, str]:
    return _clean_env(SIGIL_URL=stack.url, SIGIL_TOKEN=token, SIGIL_DATA_DIR=str(stack.data_dir))


def assert_no_leak(*results: subprocess.CompletedProcess[str]) -> None:
    for result in results:
        for canary in CANARIES:
            assert canary not in result.stdout
            assert canary not in result.stderr
        assert "Traceback" not in result.stderr


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sigil")
    assert "Traceback" not in result.stderr
    return lines[0]


def listing(stack: CliStack, token: str) -> list[dict[str, object]]:
    """The scope's metadata straight from the API (an independent look at the state)."""
    resp = httpx.get(
        f"{stack.url}/api/v1/secrets",
        params={"limit": "1000"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    items: list[dict[str, object]] = resp.json()["items"]
    return items


def test_secrets_are_addressed_by_key_in_their_scope(run: Runner, stack: CliStack) -> None:
    admin = make_token(stack, "clikeys")
    env = api_env(stack, admin)
    vendor = run("secrets", "create", "DB_PASSWORD", "--json", env=env, stdin=VALUE + "\n")
    customer = run("secrets", "create", "DB_PASSWORD", "-c", "c1", "--json", env=env, stdin=VALUE)
    assert vendor.returncode == 0, vendor.stderr
    assert customer.returncode == 0, customer.stderr
    vendor_id = json.loads(vendor.stdout)["id"]
    updated = run(
        "secrets", "update", "DB_PASSWORD", "--customer-org", "c1", "--json",
        env=env, stdin="second-value-000111",
    )  # fmt: skip
    assert updated.returncode == 0, updated.stderr
    assert json.loads(updated.stdout)["customerOrganizationId"] == "c1"
    versions = {(item["customerOrganizationId"], item["version"]) for item in listing(stack, admin)}
    assert versions == {(None, 1), ("c1", 2)}
    by_id = run("secrets", "get", vendor_id, "--json", env=env)
    assert json.loads(by_id.stdout)["key"] == "DB_PASSWORD"
    # A customer user's default scope is its own customer organization.
    customer_user = make_token(stack, "clikeys", role="read_write", customer="c1")
    got = run("secrets", "get", "DB_PASSWORD", "--json", env=api_env(stack, customer_user))
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["customerOrganizationId"] == "c1"
    only_customer = run("secrets", "create", "ONLY_C1", "-c", "c1", env=env, stdin=VALUE)
    assert only_customer.returncode == 0
    missing = run("secrets", "update", "ONLY_C1", env=env, stdin=VALUE)
    line = assert_one_line_error(missing, 3)
    assert "ONLY_C1" in line
    assert "c1" in line
    assert "--customer-org" in line
    deleted = run("secrets", "delete", "DB_PASSWORD", "-c", "c1", env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert [
        i["customerOrganizationId"] for i in listing(stack, admin) if i["key"] == "DB_PASSWORD"
    ] == [None]
    assert_no_leak(vendor, customer, updated, by_id, got, missing, deleted)


def test_history_lists_who_wrote_each_version_newest_first(run: Runner, stack: CliStack) -> None:
    alice = api_env(stack, make_token(stack, "clihist", sub="alice"))
    bob = api_env(stack, make_token(stack, "clihist", sub="bob"))
    runs = [
        run("secrets", "create", "API_TOKEN", env=alice, stdin=VALUE),
        run("secrets", "update", "API_TOKEN", "-", env=bob, stdin="second-value-000111"),
        run("secrets", "update", "API_TOKEN", env=alice, stdin="third-value-222333"),
    ]
    assert [r.returncode for r in runs] == [0, 0, 0], [r.stderr for r in runs]
    history = run("secrets", "history", "API_TOKEN", "--json", env=alice)
    assert history.returncode == 0, history.stderr
    versions = json.loads(history.stdout)
    assert [(v["version"], v["createdBy"]) for v in versions] == [
        (3, "alice"),
        (2, "bob"),
        (1, "alice"),
    ]
    table = run("secrets", "history", "API_TOKEN", env=alice)
    assert table.stdout.splitlines()[0].split()[:2] == ["VERSION", "WRITTEN"]
    assert len(table.stdout.strip().splitlines()) == 4
    assert_no_leak(*runs, history, table)


def test_import_creates_or_updates_each_key_and_never_prints_values(
    run: Runner, stack: CliStack, tmp_path: Path
) -> None:
    admin = make_token(stack, "cliimport")
    env = api_env(stack, admin)
    assert run("secrets", "create", "EXISTING", env=env, stdin=VALUE).returncode == 0
    dotenv = tmp_path / "prod.env"
    dotenv.write_text(
        "# production settings\n"
        "export API_KEY=imported-api-key-4711  # from the vendor portal\n"
        'EXISTING="second-value-000111"\n'
        "CERT='-----BEGIN-----\nthird-value-222333\n-----END-----'\n"
        "PIN=42\n"
    )
    imported = run("secrets", "import", str(dotenv), env=env)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.splitlines() == [
        "created API_KEY (version 1)",
        "updated EXISTING (version 2)",
        "created CERT (version 1)",
        "created PIN (version 1)",
    ]
    # "42" is below the redactor's minimum length: said on stderr, naming the key only.
    warnings = [ln for ln in imported.stderr.splitlines() if "warning" in ln]
    assert len(warnings) == 1
    assert "PIN" in warnings[0]
    assert "42" not in imported.stderr
    keys = {item["key"]: item["version"] for item in listing(stack, admin)}
    assert keys == {"API_KEY": 1, "EXISTING": 2, "CERT": 1, "PIN": 1}
    # A bad line refuses the whole file before anything is sent.
    bad = tmp_path / "bad.env"
    bad.write_text("NEW_ONE=imported-api-key-4711\nnot a pair\n")
    refused = run("secrets", "import", str(bad), env=env)
    line = assert_one_line_error(refused, 2)
    assert f"{bad}:2:" in line
    assert "NEW_ONE" not in {item["key"] for item in listing(stack, admin)}
    assert_no_leak(imported, refused)


def _drain(fd: int, until: bytes, timeout: float = 30) -> bytes:
    """Read the terminal until ``until`` appears (or EOF)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while until not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    return seen


def _wait_child(pid: int, timeout: float = 30) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    return None


def test_interactive_prompt_hides_the_value(stack: CliStack) -> None:
    env = api_env(stack, make_token(stack, "cliprompt"))
    secret = "prompted-value-13579"
    pid, fd = pty.fork()
    if pid == 0:  # the child: sigil on a real terminal (stdin is a tty)
        os.execve(SIGIL, [SIGIL, "secrets", "create", "PROMPTED"], env)
    status: int | None = None
    try:
        # Click prints the prompt, then getpass turns echo off and writes the final space:
        # type only after that space, as a person does (typeahead would echo anywhere).
        transcript = _drain(fd, b"(hidden): ")
        assert b"(hidden): " in transcript, transcript
        os.write(fd, secret.encode() + b"\n")
        transcript += _drain(fd, b"confirmation: ")
        assert b"confirmation: " in transcript, transcript
        os.write(fd, secret.encode() + b"\n")
        transcript += _drain(fd, b"\x00never\x00")  # until the child closes the terminal
        status = _wait_child(pid)
    finally:
        if status is None:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
    text = transcript.decode(errors="replace")
    assert status == 0, text
    assert "created PROMPTED" in text
    assert secret not in text  # the terminal never echoed it
    assert "PROMPTED" in {item["key"] for item in listing(stack, env["SIGIL_TOKEN"])}


class _NotSigil(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(500)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html>upstream exploded</html>")

    def log_message(self, *args: object) -> None:
        del args


def test_every_exit_code(run: Runner, stack: CliStack, tmp_path: Path) -> None:
    admin = make_token(stack, "cliexit")
    env = api_env(stack, admin)
    ok = run("secrets", "create", "TAKEN", env=env, stdin=VALUE)
    assert ok.returncode == 0
    template = tmp_path / "app.env"
    template.write_text("X={{ .Secrets.NOPE }}\n")
    assert run("render", "validate", str(template), env=env).returncode == 1
    # 2: usage, including files that do not exist and values on the command line.
    for args in (
        ("secrets", "list", "--no-such-option"),
        ("render", "validate", str(tmp_path / "missing.env")),
        ("secrets", "update", "TAKEN", "--value-file", str(tmp_path / "missing")),
        ("secrets", "update", "TAKEN", VALUE),
        ("secrets", "import", str(tmp_path / "missing.env")),
    ):
        result = run(*args, env=env)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert VALUE not in result.stderr
    assert "does not exist" in run("render", "validate", "missing.env", env=env).stderr
    assert_one_line_error(run("secrets", "get", "NOPE", env=env), 3)
    assert_one_line_error(run("secrets", "create", "TAKEN", env=env, stdin=VALUE), 4)
    reader = api_env(stack, make_token(stack, "cliexit", role="read_only"))
    assert_one_line_error(run("secrets", "create", "X", env=reader, stdin=VALUE), 5)
    assert_one_line_error(run("secrets", "list", env=api_env(stack, "not-a-token")), 5)
    closed = api_env(stack, admin) | {"SIGIL_URL": f"http://127.0.0.1:{free_port()}"}
    assert_one_line_error(run("secrets", "list", env=closed), 6)
    server = HTTPServer(("127.0.0.1", 0), _NotSigil)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        elsewhere = closed | {"SIGIL_URL": f"http://127.0.0.1:{server.server_port}"}
        line = assert_one_line_error(run("secrets", "list", env=elsewhere), 7)
        assert "upstream exploded" not in line
    finally:
        server.shutdown()
        server.server_close()


def test_broken_pipe_is_quiet(run: Runner, stack: CliStack) -> None:
    env = api_env(stack, make_token(stack, "clipipe"))
    assert run("secrets", "create", "PIPED", env=env, stdin=VALUE).returncode == 0
    for args in (("audit",), ("secrets", "list", "--json")):
        read_end, write_end = os.pipe()
        proc = subprocess.Popen([SIGIL, *args], stdout=write_end, stderr=subprocess.PIPE, env=env)
        os.close(write_end)
        os.close(read_end)  # like `| head` that already exited: every write is EPIPE
        _, err = proc.communicate(timeout=60)
        assert err == b"", err.decode()
        assert proc.returncode == 0


def test_admin_commands_fail_fast_in_one_line(stack: CliStack, tmp_path: Path) -> None:
    # The old client retried for ~2 minutes with 1,600 lines of tracebacks; the bound
    # here (30 s) is generous on a loaded machine and far below that.
    no_dir = _clean_env(SIGIL_DATA_DIR=str(tmp_path / "nowhere"))
    for args in (("keys", "rotate"), ("audit", "verify", "--org", "o1")):
        line = assert_one_line_error(sigil(*args, env=no_dir, timeout=30), 2)
        assert "nowhere" in line
    stopped = tmp_path / "stopped"
    shutil.copytree(stack.data_dir, stopped, ignore=shutil.ignore_patterns("jetstream"))
    (stopped / "nats.url").write_text(f"nats://127.0.0.1:{free_port()}\n")
    env = _clean_env(SIGIL_DATA_DIR=str(stopped))
    for args in (("keys", "status"), ("keys", "rotate"), ("audit", "verify")):
        line = assert_one_line_error(sigil(*args, env=env, timeout=30), 6)
        assert "NATS is unreachable" in line
    status = sigil("keys", "status", "--json", env=_clean_env(SIGIL_DATA_DIR=str(stack.data_dir)))
    assert status.returncode == 0, status.stderr
    assert all(count >= 0 for count in json.loads(status.stdout).values())


def test_version_help_and_completion() -> None:
    version = sigil("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("sigil ")
    helped = sigil("--help")
    assert helped.returncode == 0
    assert "Exit codes: 0 ok, 1 template/validation problems" in helped.stdout
    script = sigil("--show-completion", "bash", env=_clean_env(SHELL="/bin/bash"))
    assert script.returncode == 0
    assert "_SIGIL_COMPLETE" in script.stdout
    completed = sigil(
        env=_clean_env(
            _SIGIL_COMPLETE="complete_bash", COMP_WORDS="sigil secrets hi", COMP_CWORD="2"
        )
    )
    assert completed.stdout.split() == ["history"]


def test_shell_completion_offers_the_keys_of_the_scope(run: Runner, stack: CliStack) -> None:
    env = api_env(stack, make_token(stack, "clicomplete"))
    for key, scope in (("DB_PASSWORD", []), ("DB_USER", []), ("API", []), ("DB_C1", ["-c", "c1"])):
        assert run("secrets", "create", key, *scope, env=env, stdin=VALUE).returncode == 0

    def complete(words: str) -> list[str]:
        completion = {"_SIGIL_COMPLETE": "complete_bash", "COMP_WORDS": words}
        result = sigil(env=env | completion | {"COMP_CWORD": str(len(words.split()) - 1)})
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    assert complete("sigil secrets get DB") == ["DB_PASSWORD", "DB_USER"]
    assert complete("sigil secrets history -c c1 D") == ["DB_C1"]


def test_validate_positions_are_one_based_and_json_names_the_files(
    run: Runner, stack: CliStack, tmp_path: Path
) -> None:
    env = api_env(stack, make_token(stack, "clipos"))
    dotenv = tmp_path / "app.env"
    dotenv.write_text("X={{ .Secrets.NOPE }}\nY=é{{ .Secrets.ALSO_NOPE }}\n")
    broken = tmp_path / "broken.env"
    broken.write_text("X={{ .Secrets.A }\n")
    values = tmp_path / "values.yaml"
    values.write_text("a: 1\nb: {{ .Secrets.NOPE }}\n")
    text = run("render", "validate", str(dotenv), str(broken), str(values), env=env)
    assert text.returncode == 1
    lines = text.stdout.splitlines()
    # Go's 0-based byte column 13 is the 14th character; "é" is two bytes, one character.
    assert lines[0].startswith(f"{dotenv}:1:14: template execution error: ")
    assert lines[1].startswith(f"{dotenv}:2:15: template execution error: ")
    # A parse error has a line but no column: nothing is invented, never ":0".
    assert lines[2].startswith(f"{broken}:1: template parsing error: ")
    assert any(line.startswith(f"{values}:2:") for line in lines)
    assert ":0:" not in text.stdout
    assert ":0: " not in text.stdout
    as_json = run("render", "validate", str(dotenv), str(broken), str(values), "--json", env=env)
    assert as_json.returncode == 1
    results = json.loads(as_json.stdout)
    assert [r["file"] for r in results] == [str(dotenv), str(broken), str(values)]
    for result in results:
        assert {e["file"] for e in result["errors"]} == {result["file"]}
    assert [(e["line"], e["column"]) for e in results[0]["errors"]] == [(1, 14), (2, 15)]
    assert results[1]["errors"][0]["column"] is None
    assert "envFile" not in json.dumps([e["file"] for r in results for e in r["errors"]])


def test_global_options_anywhere_and_from_the_environment(run: Runner, stack: CliStack) -> None:
    token = run(
        "token", "--org", "cliglobal", "--role", "admin", "--data-dir", str(stack.data_dir)
    ).stdout.strip()
    assert token.count(".") == 2
    from_env = run(
        "token", "--org", "cliglobal", "--role", "admin",
        env=_clean_env(SIGIL_DATA_DIR=str(stack.data_dir)),
    )  # fmt: skip
    assert from_env.returncode == 0, from_env.stderr
    after = run("secrets", "list", "--json", "--url", stack.url, "--token", token)
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout) == []
    before = run(f"--url={stack.url}", "--token", token, "secrets", "list")
    assert before.returncode == 0, before.stderr


def test_delete_json_on_conflict_prints_the_error(run: Runner, stack: CliStack) -> None:
    env = api_env(stack, make_token(stack, "cliconflict"))
    assert run("secrets", "create", "IN_USE", env=env, stdin=VALUE).returncode == 0
    _render(stack, "cliconflict", "web", "X={{ .Secrets.IN_USE }}\n")
    refused = run("secrets", "delete", "IN_USE", "--json", env=env)
    assert refused.returncode == 4, refused.stderr
    error = json.loads(refused.stdout)["error"]
    assert error["code"] == "conflict"
    assert "web" in json.dumps(error["details"])
    assert len(refused.stderr.strip().splitlines()) == 1
    forced = run("secrets", "delete", "IN_USE", "--force", "--json", env=env)
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["key"] == "IN_USE"
    assert_no_leak(refused, forced)


def _render(stack: CliStack, org: str, deployment: str, env_file: str) -> None:
    """Render a deployment revision the way the platform does (a live receipt)."""
    import asyncio

    import nats

    from sigil_shared.contracts import TemplateRenderRequest

    passwords = json.loads((stack.data_dir / "nats-users.json").read_text())
    url = (stack.data_dir / "nats.url").read_text().strip()
    body = TemplateRenderRequest(
        organization_id=org, deployment_id=deployment, revision=1, env_file=env_file
    ).model_dump_json(by_alias=True)

    async def go() -> None:
        nc = await nats.connect(
            url,
            user="platform",
            password=passwords["platform"],
            inbox_prefix=subjects.inbox_prefix("platform"),
        )
        try:
            reply = await nc.request(subjects.TEMPLATE_RENDER, body.encode(), timeout=15)
        finally:
            await nc.close()
        assert json.loads(reply.data).get("ok") is True, reply.data

    asyncio.run(go())


def test_sigil_up_says_which_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        gateway = sigil(
            "--data-dir", str(tmp_path / "a"), "up", "--port", str(port), "--nats-port", "-1",
            timeout=30,
        )  # fmt: skip
        line = assert_one_line_error(gateway, 4)
        assert str(port) in line
        assert "gateway" in line
        nats_taken = sigil(
            "--data-dir", str(tmp_path / "b"), "up", "--port", str(free_port()),
            "--nats-port", str(port), timeout=30,
        )  # fmt: skip
        line = assert_one_line_error(nats_taken, 4)
        assert str(port) in line
        assert "NATS" in line


def test_banner_prints_the_exact_token_and_url_commands(stack: CliStack) -> None:
    token_line = next(ln for ln in stack.banner if ln.strip().startswith("token:"))
    use_line = next(ln for ln in stack.banner if ln.strip().startswith("use:"))
    token_cmd = token_line.split("token:", 1)[1].strip()
    assert f"--data-dir {shlex.quote(str(stack.data_dir.resolve()))}" in token_cmd
    assert stack.url in use_line
    export = use_line.split("use:", 1)[1].strip().replace("ORG", "clibanner")
    # Run from another directory with no SIGIL_* set: the printed commands are complete.
    result = subprocess.run(
        ["bash", "-c", f'{export} && "{SIGIL}" secrets list --json'],
        capture_output=True,
        text=True,
        env=_clean_env(PATH=f"{Path(SIGIL).parent}:{os.environ.get('PATH', '')}"),
        cwd="/",
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_logs_publish_and_tail_show_only_redacted_lines(stack: CliStack) -> None:
    token = make_token(stack, "clilogs")
    env = api_env(stack, token)
    assert sigil("secrets", "create", "TOKEN", env=env, stdin=VALUE).returncode == 0
    proc = subprocess.Popen(
        [SIGIL, "logs", "tail", "web"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)  # the tail subscribes before the line is published
        published = sigil(
            "logs", "publish", "web", "--org", "clilogs", "--json", env=env,
            stdin=f"hello {VALUE}\n",
        )  # fmt: skip
        assert published.returncode == 0, published.stderr
        assert json.loads(published.stdout) == {"published": 1, "refused": 0}
        assert proc.stdout is not None
        line = proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
    assert line.rstrip().endswith("hello ********")
    assert_no_leak(published)


def test_audit_says_when_its_limit_cut_the_listing(run: Runner, stack: CliStack) -> None:
    env = api_env(stack, make_token(stack, "cliaudit"))
    for n in range(3):
        assert run("secrets", "create", f"AUDITED_{n}", env=env, stdin=VALUE).returncode == 0
    cut = run("audit", "--limit", "2", "--json", env=env)
    assert cut.returncode == 0
    assert len(json.loads(cut.stdout)) == 2
    assert "showing the first 2 events; there are more" in cut.stderr
    whole = run("audit", "--limit", "3", "--json", env=env)
    assert len(json.loads(whole.stdout)) == 3
    assert whole.stderr == ""
