"""Redaction throughput next to naive baselines on the same generated corpus, in one run.

    .venv/bin/python -m bench.redactor_bench [--mb 20] [--seconds 2]

Corpus: JSON, access-log and stack-trace lines; about 1% carry a secret (raw or encoded).
For 10, 100, 1,000 and 10,000 secrets: Sigil's kernel (all encoded forms on), a per-secret
``str.replace`` loop and a longest-first regex alternation (raw values only), plus the floor
(reading and writing the lines unchanged). Slow baselines run on a time budget over a prefix
of the corpus; MB/s is comparable. Then end to end over JetStream with two redactor replicas.
"""

import argparse
import asyncio
import json
import random
import re
import string
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bench.stack import BenchStack
from sigil_redactor import Redactor
from sigil_shared import operations as ops
from sigil_shared import subjects
from sigil_shared.bus import request
from sigil_shared.contracts import (
    Actor,
    LogRecord,
    Role,
    SecretCreateRequest,
)


def make_secrets(count: int, rng: random.Random) -> list[str]:
    alphabet = string.ascii_letters + string.digits + "_-!@#"
    return [
        rng.choice(["sk_live_", "ghp_", "pw-", "AKIA", ""])
        + "".join(rng.choices(alphabet, k=rng.randint(12, 32)))
        for _ in range(count)
    ]


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
                f"line {rng.randint(1, 900)},"
                " in handle\n    raise ValueError('bad input')"
            )
        if rng.random() < 0.01:
            secret = rng.choice(secrets)
            line += rng.choice([f" password={secret}", f' "token": "{secret}"', f" auth={secret}x"])
        lines.append(line)
        size += len(line) + 1
    return lines


def throughput(fn: Callable[[str], str], lines: list[str], seconds: float) -> float:
    processed = 0
    start = time.perf_counter()
    for line in lines:
        fn(line)
        processed += len(line) + 1
        if time.perf_counter() - start > seconds:
            break
    return processed / (time.perf_counter() - start) / 1e6


def replace_loop(secrets: list[str]) -> Callable[[str], str]:
    def run(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, "********")
        return text

    return run


def regex_alternation(secrets: list[str]) -> Callable[[str], str]:
    pattern = re.compile("|".join(re.escape(s) for s in sorted(secrets, key=len, reverse=True)))
    return lambda text: pattern.sub("********", text)


async def end_to_end(lines: list[str], secrets: list[str]) -> float:
    async with BenchStack(services=("secrets", "redactor", "redactor")) as stack:
        gateway = await stack.broker("gateway")
        admin = Actor(user_id="bench", organization_id="bench", role=Role.ADMIN)
        for i, secret in enumerate(secrets[:100]):
            await request(
                gateway,
                ops.SECRET_CREATE,
                SecretCreateRequest(actor=admin, request_id=f"s{i}", key=f"K{i}", value=secret),
                timeout=10,
            )
        platform = await stack.broker("platform")
        js = platform.connection.jetstream()
        now = datetime.now(UTC)
        payloads = [
            LogRecord(deployment_id="dep", timestamp=now, body=line).model_dump_json().encode()
            for line in lines
        ]
        observer = (await stack.broker("redactor")).connection.jetstream()
        start = time.perf_counter()
        for i in range(0, len(payloads), 500):
            await asyncio.gather(
                *(js.publish(subjects.logs_raw("bench", "dep"), p) for p in payloads[i : i + 500])
            )
        while True:
            info = await observer.stream_info(subjects.LOGS_REDACTED_STREAM)
            if info.state.messages >= len(payloads):
                break
            if time.perf_counter() - start > 120:
                break
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - start
        return info.state.messages / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--e2e-lines", type=int, default=20000)
    args = parser.parse_args()
    rng = random.Random(7)
    all_secrets = make_secrets(10_000, rng)
    print(f"redaction MB/s on a {args.mb:g} MB generated corpus ({time.strftime('%Y-%m-%d')})")
    print(
        f"{'secrets':>8}{'patterns':>10}{'sigil':>9}{'floor':>9}{'replace':>9}{'regex':>9}"
        f"{'vs regex':>10}"
    )
    for count in (10, 100, 1000, 10_000):
        secrets = all_secrets[:count]
        corpus = make_corpus(args.mb, secrets, rng)
        redactor = Redactor(secrets)
        sigil = throughput(redactor.redact, corpus, 1e9)
        floor = throughput(lambda s: s, corpus, 1e9)
        naive = throughput(replace_loop(secrets), corpus, args.seconds)
        regex = throughput(regex_alternation(secrets), corpus, args.seconds)
        print(
            f"{count:>8}{redactor.pattern_count:>10}{sigil:>9.1f}{floor:>9.1f}{naive:>9.2f}"
            f"{regex:>9.2f}{sigil / regex:>9.0f}x"
        )
    lines = make_corpus(args.e2e_lines * 130 / 1e6 / 1.05, all_secrets[:100], rng)[: args.e2e_lines]
    rate = asyncio.run(end_to_end(lines, all_secrets[:100]))
    print(
        f"end to end over JetStream, 2 redactor replicas: {rate:,.0f} lines/s ({len(lines)} lines)"
    )


if __name__ == "__main__":
    main()
