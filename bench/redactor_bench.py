"""Redaction: kernel vs Go's strings.Replacer, matcher builds, and end to end on `sigil up`.

    .venv/bin/python -m bench.redactor_bench [--mb 10] [--seconds 2] [--e2e-lines 200000]

1. Kernel, one core (CPU seconds of this process; Go pinned to GOMAXPROCS=1): Sigil's
   kernel with every encoded form on, masking the corpus in batches of 1,000 lines as the
   service does, next to Go 1.19's ``strings.Replacer`` with the raw values only, on the
   same generated corpus (about 1% of lines carry a secret, raw or encoded), at 10 to
   10,000 secrets. The Go column is blank when ``go`` is not installed.
2. Matcher builds (CPU seconds): 10,000 secrets x forms, 64 KiB repetitive values
   (which took minutes with the DFA: its build is quadratic in such values), and 40 random
   values of 60,000 characters (28 MB of forms, 12 s and 1.3 GB when every form went into the
   automaton whole; now their anchors do: see ``sigil_redactor.domain.kernel``).
3. End to end on the stack ``sigil up`` starts (nats-server, the four services, setup step):
   1,000 secrets, lines batched by ``sigil_shared.log_publisher``'s format (JSON arrays up
   to 1 MiB), timed from the first publish until the last record is readable through
   ``GET /api/v1/deployments/{id}/logs``; with one and two redactor replicas; CPU ms per
   1,000 lines of each process. Next to it, in the same run: JetStream's own publish floor
   (the same messages into a plain file stream on a bare nats-server) and the pipeline fed
   one record per message (the pre-batch protocol).
"""

import argparse
import asyncio
import base64
import json
import os
import random
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import nats
from nats.aio.msg import Msg
from nats.js.api import StorageType, StreamConfig

from sigil_cli.embedded import NatsServer, set_parent_death_signal
from sigil_cli.stack import Stack, StackOptions
from sigil_cli.tokens import issue_token, signing_key
from sigil_redactor import Redactor
from sigil_shared import subjects
from sigil_shared.log_publisher import BATCH_MAX_BYTES

ROOT = Path(__file__).resolve().parents[1]
_TICK = os.sysconf("SC_CLK_TCK")
ORG = "bench"


def make_secrets(count: int, rng: random.Random) -> list[str]:
    alphabet = string.ascii_letters + string.digits + "_-!@#"
    return [
        rng.choice(["sk_live_", "ghp_", "pw-", "AKIA", ""])
        + "".join(rng.choices(alphabet, k=rng.randint(12, 32)))
        for _ in range(count)
    ]


def _encoded(secret: str, rng: random.Random) -> str:
    return rng.choice(
        [
            secret,
            secret,
            json.dumps(secret)[1:-1],
            quote(secret, safe=""),
            base64.b64encode(b"user:" + secret.encode()).decode(),
            secret.encode().hex(),
        ]
    )


def make_corpus(megabytes: float, secrets: list[str], rng: random.Random) -> list[str]:
    lines: list[str] = []
    size = 0
    while size < megabytes * 1024 * 1024:
        kind = rng.random()
        if kind < 0.5:
            line = json.dumps(
                {
                    "ts": "2026-11-28T07:00:00Z",
                    "level": "info",
                    "msg": "request handled",
                    "path": f"/api/v1/items/{rng.randint(1, 99999)}",
                    "latency_ms": rng.randint(1, 900),
                }
            )
        elif kind < 0.85:
            line = (
                f"10.0.{rng.randint(0, 255)}.{rng.randint(0, 255)} - - "
                "[28/Nov/2026:07:00:00 +0000] "
                f'"GET /static/app.{rng.randint(1, 999)}.js HTTP/1.1" 200 {rng.randint(100, 99999)}'
            )
        else:
            line = (
                f'  File "/srv/app/handlers/module_{rng.randint(1, 50)}.py", '
                f"line {rng.randint(1, 900)}, in handle    raise ValueError('bad input')"
            )
        if rng.random() < 0.01:
            secret = _encoded(rng.choice(secrets), rng)
            line += rng.choice([f" password={secret}", f' "token": "{secret}"', f" auth={secret}x"])
        lines.append(line)
        size += len(line) + 1
    return lines


# --- 1. kernel -------------------------------------------------------------------------


def kernel_mb_per_cpu_second(
    fn: Callable[[list[str]], object], lines: list[str], seconds: float
) -> float:
    chunks = [lines[i : i + 1000] for i in range(0, len(lines), 1000)]
    sizes = [sum(len(line.encode()) + 1 for line in chunk) for chunk in chunks]
    processed = 0
    start = time.process_time()
    while time.process_time() - start < seconds:
        for chunk, size in zip(chunks, sizes, strict=True):
            fn(chunk)
            processed += size
    return processed / (time.process_time() - start) / 1e6


def go_binary() -> Path | None:
    if shutil.which("go") is None:
        return None
    binary = Path(tempfile.mkdtemp(prefix="sigil-go-")) / "goreplacer"
    env = dict(os.environ)
    env.setdefault("GOCACHE", str(Path(tempfile.gettempdir()) / "sigil-gocache"))
    subprocess.run(
        ["go", "build", "-o", str(binary), "."],
        cwd=ROOT / "bench" / "goreplacer",
        check=True,
        env=env,
    )
    return binary


def go_mb_per_cpu_second(
    binary: Path | None, secrets: list[str], lines: list[str], seconds: float
) -> float | None:
    if binary is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(secrets) + "\n")
    try:
        out = subprocess.run(
            [str(binary), "-secrets", handle.name, "-seconds", str(seconds)],
            input="\n".join(lines) + "\n",
            capture_output=True,
            text=True,
            check=True,
            env=dict(os.environ, GOMAXPROCS="1"),
        )
    finally:
        os.unlink(handle.name)
    return float(json.loads(out.stdout)["mbPerSecond"])


def kernel_table(
    all_secrets: list[str], megabytes: float, seconds: float, rng: random.Random
) -> None:
    binary = go_binary()
    print(f"1. kernel on one core, MB of log per CPU second ({megabytes:g} MB corpus)")
    print(
        f"{'secrets':>8}{'patterns':>10}{'sigil':>9}{'per-line':>10}{'go Replacer':>13}"
        f"{'sigil/go':>10}"
    )
    for count in (10, 100, 1000, 10_000):
        secrets = all_secrets[:count]
        corpus = make_corpus(megabytes, secrets, rng)
        redactor = Redactor(secrets)
        batched = kernel_mb_per_cpu_second(redactor.redact_many, corpus, seconds)

        def each(chunk: list[str], r: Redactor = redactor) -> list[str]:
            return [r.redact(line) for line in chunk]

        per_line = kernel_mb_per_cpu_second(each, corpus, seconds / 2)
        go = go_mb_per_cpu_second(binary, secrets, corpus, seconds)
        go_text = f"{go:>13.1f}" if go is not None else f"{'(no go)':>13}"
        ratio = f"{batched / go:>9.2f}x" if go else f"{'-':>10}"
        print(
            f"{count:>8}{redactor.pattern_count:>10}{batched:>9.1f}{per_line:>10.1f}{go_text}{ratio}"
        )


# --- 2. builds -------------------------------------------------------------------------


def build_table(all_secrets: list[str], rng: random.Random) -> None:
    print("2. matcher builds, CPU seconds (this process and the build thread)")
    cases = {
        "10,000 secrets x forms": all_secrets[:10_000],
        "one 64 KiB 'x' value": ["x" * 65536],
        "two 64 KiB repetitive values": ["x" * 65536, "ab" * 32768],
        "64 KiB of nested lines (y^4..y^360)": ["\n".join("y" * n for n in range(4, 360))],
        "40 x 60,000-char random values": [
            "".join(rng.choices(string.ascii_letters + string.digits, k=60_000)) for _ in range(40)
        ],
    }
    print(f"{'values':<38}{'pattern MB':>11}{'automaton MB':>13}{'layers':>8}{'build s':>9}")
    for name, values in cases.items():
        start = time.process_time()
        redactor = Redactor(values)
        elapsed = time.process_time() - start
        print(
            f"{name:<38}{redactor.pattern_bytes / 1e6:>11.2f}"
            f"{redactor.automaton_pattern_bytes / 1e6:>13.2f}{redactor.layers:>8}{elapsed:>9.2f}"
        )


# --- 3. end to end ---------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def batches(lines: list[str], deployment: str) -> list[bytes]:
    """The messages ``LogPublisher`` would send: JSON arrays of records up to 1 MiB."""
    out: list[bytes] = []
    pending: list[bytes] = []
    size = 2
    now = "2026-12-01T12:00:00+00:00"
    for line in lines:
        doc = {"deploymentId": deployment, "timestamp": now, "body": line}
        data = json.dumps(doc, separators=(",", ":")).encode()
        if pending and size + len(data) + 1 > BATCH_MAX_BYTES:
            out.append(b"[" + b",".join(pending) + b"]")
            pending, size = [], 2
        pending.append(data)
        size += len(data) + 1
    if pending:
        out.append(b"[" + b",".join(pending) + b"]")
    return out


async def publish_all(js: object, subject: str, payloads: list[bytes], window: int = 16) -> None:
    pending: list[asyncio.Future[object]] = []
    for payload in payloads:
        pending.append(asyncio.ensure_future(js.publish(subject, payload)))  # type: ignore[attr-defined]
        if len(pending) >= window:
            await pending.pop(0)
    await asyncio.gather(*pending)


async def floor_lines_per_second(payloads: list[bytes], lines: int) -> float:
    """JetStream alone: the same messages into a plain file stream on a bare nats-server."""
    root = Path(tempfile.mkdtemp(prefix="sigil-floor-"))
    conf = root / "nats.conf"
    conf.write_text(f'port: -1\nmax_payload: 4194304\njetstream {{ store_dir: "{root / "js"}" }}\n')
    server = NatsServer(conf)
    url = server.start()
    try:
        nc = await nats.connect(url)
        js = nc.jetstream()
        await js.add_stream(
            StreamConfig(name="FLOOR", subjects=["floor.>"], storage=StorageType.FILE)
        )
        start = time.perf_counter()
        await publish_all(js, "floor.bench", payloads)
        elapsed = time.perf_counter() - start
        await nc.close()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return lines / elapsed


@dataclass
class Run:
    lines_per_second: float
    cpu_ms_per_1000: dict[str, float]


async def _drive(
    stack: Stack, extra: list[int], secrets: list[str], lines: list[str], *, single: bool
) -> Run:
    token = issue_token(signing_key(stack.data.root), org=ORG, role="admin")
    headers = {"Authorization": f"Bearer {token}"}
    deployment = "single" if single else f"dep{len(extra)}"
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=60) as http:
        existing = await http.get("/api/v1/secrets", params={"limit": 1})
        if not existing.json()["items"]:
            for i in range(0, len(secrets), 50):
                replies = await asyncio.gather(
                    *(
                        http.post("/api/v1/secrets", json={"key": f"K{j}", "value": secrets[j]})
                        for j in range(i, min(i + 50, len(secrets)))
                    )
                )
                assert all(r.status_code == 201 for r in replies), replies[0].text
        passwords = stack.data.passwords()
        nc = await nats.connect(
            stack.nats_url,
            user="platform",
            password=passwords["platform"],
            inbox_prefix="_INBOX.platform",
        )
        js = nc.jetstream()
        subject = subjects.logs_raw(ORG, deployment)
        # Count stored records as they are published to the redacted stream (the gateway's
        # tail subscription; each stored batch says how many records it holds). Replicas
        # store batches in any order, so "the last record" means every record.
        watcher = await nats.connect(
            stack.nats_url,
            user="gateway",
            password=passwords["gateway"],
            inbox_prefix="_INBOX.gateway",
        )
        stored = 0
        all_stored = asyncio.Event()

        async def on_stored(msg: Msg) -> None:
            nonlocal stored
            stored += int((msg.headers or {}).get("Sigil-Records", "1"))
            if stored >= len(lines):
                all_stored.set()

        await watcher.subscribe(subjects.logs_redacted(ORG, deployment), cb=on_stored)
        # Warm up: the matcher of the organization is built before the clock starts.
        await js.publish(
            subject, json.dumps({"timestamp": "2026-12-01T12:00:00+00:00", "body": "warm"}).encode()
        )
        await _wait_last(http, deployment, "warm")
        stored = 0
        marked = [*lines[:-1], f"{lines[-1]} LAST-{deployment}"]
        if single:
            now = "2026-12-01T12:00:00+00:00"
            payloads = [
                json.dumps({"deploymentId": deployment, "timestamp": now, "body": line}).encode()
                for line in marked
            ]
        else:
            payloads = batches(marked, deployment)
        pids = {"redactor": [stack.children["redactor"].pid, *extra]}
        proc = getattr(stack.nats, "_proc", None)  # the embedded nats-server's process
        pids["nats-server"] = [proc.pid] if proc is not None else []
        pids["gateway"] = [stack.children["gateway"].pid]
        pids["secrets"] = [stack.children["secrets"].pid]
        before = {name: sum(cpu_seconds(p) for p in ps) for name, ps in pids.items() if ps}
        start = time.perf_counter()
        await publish_all(js, subject, payloads, window=16 if not single else 512)
        await asyncio.wait_for(all_stored.wait(), 600)
        await _wait_last(http, deployment, f"LAST-{deployment}", anywhere=bool(extra))
        elapsed = time.perf_counter() - start
        await watcher.close()
        after = {name: sum(cpu_seconds(p) for p in pids[name]) for name in before}
        await nc.close()
    cpu = {name: (after[name] - before[name]) * 1e6 / len(lines) for name in before}
    return Run(len(lines) / elapsed, cpu)


async def _wait_last(
    http: httpx.AsyncClient, deployment: str, marker: str, *, anywhere: bool = False
) -> None:
    """Until the newest record, ending with ``marker``, is readable over HTTP; with
    ``anywhere`` (replicas store batches in any order, and every record is known to be
    stored) until the newest page is readable."""
    url = f"/api/v1/deployments/{deployment}/logs"
    deadline = time.perf_counter() + 600
    while time.perf_counter() < deadline:
        page = await http.get(url, params={"limit": 1})
        items = page.json().get("items", []) if page.status_code == 200 else []
        if items and (anywhere or items[-1]["record"]["body"].endswith(marker)):
            return
        await asyncio.sleep(0.02)
    raise SystemExit(f"{marker} never became readable")


def end_to_end(secrets: list[str], lines: list[str], single_lines: list[str]) -> None:
    print(
        f"3. end to end on `sigil up`, {len(secrets):,} secrets, first publish until the last"
        " record is readable over HTTP"
    )
    payloads = batches(lines, "floor")
    floor = asyncio.run(floor_lines_per_second(payloads, len(lines)))
    data_dir = Path(tempfile.mkdtemp(prefix="sigil-bench-up-"))
    options = StackOptions(
        data_dir=data_dir,
        port=free_port(),
        nats_port=free_port(),
        extra_env={"SIGIL_LOG_LEVEL": "WARNING"},
    )
    stack = Stack(options)
    stack.start()
    extra: list[subprocess.Popen[bytes]] = []
    try:
        single = asyncio.run(_drive(stack, [], secrets, single_lines, single=True))
        one = asyncio.run(_drive(stack, [], secrets, lines, single=False))
        env = stack._service_env("redactor", stack.data.passwords())  # the env sigil up gives it
        extra.append(
            subprocess.Popen(
                [sys.executable, "-m", "sigil_redactor"],
                env=env,
                preexec_fn=set_parent_death_signal,  # noqa: PLW1509 - only sets a signal
            )
        )
        time.sleep(3)  # the second replica binds the shared durable consumer
        two = asyncio.run(_drive(stack, [p.pid for p in extra], secrets, lines, single=False))
    finally:
        for proc in extra:
            proc.terminate()
            proc.wait()
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"{'pipeline':<52}{'lines/s':>10}  CPU ms per 1,000 lines by process")
    print(f"{'JetStream publish floor (same batches, no redactor)':<52}{floor:>10,.0f}")
    for name, run, count in (
        ("one record per message (pre-batch protocol)", single, len(single_lines)),
        ("batches, 1 redactor replica", one, len(lines)),
        ("batches, 2 redactor replicas", two, len(lines)),
    ):
        cpu = ", ".join(f"{k} {v:.0f}" for k, v in run.cpu_ms_per_1000.items())
        print(f"{name + f' ({count:,} lines)':<52}{run.lines_per_second:>10,.0f}  {cpu}")
    print("before this change (issue 12, same machine): 4,900-7,500 lines/s with 2 replicas")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=10)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--e2e-lines", type=int, default=200_000)
    parser.add_argument("--skip-kernel", action="store_true")
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args()
    rng = random.Random(7)
    all_secrets = make_secrets(10_000, rng)
    print(f"redactor benchmark ({time.strftime('%Y-%m-%d')})")
    if not args.skip_kernel:
        kernel_table(all_secrets, args.mb, args.seconds, rng)
        build_table(all_secrets, rng)
    if args.skip_e2e:
        return
    secrets = all_secrets[:1000]
    lines = make_corpus(args.e2e_lines * 130 / 1e6 / 1.05 + 1, secrets, rng)[: args.e2e_lines]
    end_to_end(secrets, lines, lines[: min(len(lines), 20_000)])


if __name__ == "__main__":
    main()
