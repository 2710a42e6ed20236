"""Renderer throughput next to Go's own text/template on the same inputs, in one run.

    .venv/bin/python -m bench.renderer_bench [--seconds 3] [--count 1000]

In-process: renders/s of a compiled 40-line env file (20 references) and a 300-line Helm
values file (50 references), with the template cache. Go: the oracle times the same
templates (needs Debian's golang-go; the row says so when Go is missing). Over NATS: the
renderer and secrets services as separate processes, each render a new revision.
"""

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.stack import BenchStack
from sigil_renderer import TemplateCache
from sigil_renderer.domain.validation import validate_file
from sigil_shared import subjects
from sigil_shared.bus import request
from sigil_shared.contracts import (
    Actor,
    Role,
    SecretCreateRequest,
    SecretMetadata,
    TemplateRenderReply,
    TemplateRenderRequest,
)

ROOT = Path(__file__).resolve().parents[1]
KEYS = [f"SECRET_{i:02d}" for i in range(50)]
SECRETS = {k: f"value-{i}-{'x' * (i % 17)}" for i, k in enumerate(KEYS)}


def env_file() -> str:
    lines = []
    for i in range(40):
        if i < 20:
            lines.append(f"VAR_{i}={{{{ .Secrets.{KEYS[i]} }}}}")
        else:
            lines.append(f"PLAIN_{i}=literal-value-{i}")
    return "\n".join(lines) + "\n"


def values_yaml() -> str:
    lines = []
    ref = 0
    for i in range(300):
        if i % 6 == 0 and ref < 50:
            lines.append(f'  key{i}: {{{{ .Secrets.{KEYS[ref]} | printf "%q" }}}}')
            ref += 1
        elif i % 25 == 0:
            lines.append(f"section{i}:")
        else:
            lines.append(f"  plain{i}: value-{i}")
    return "\n".join(lines) + "\n"


def per_second(fn: object, seconds: float) -> float:
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()  # type: ignore[operator]
        count += 1
    return count / (time.perf_counter() - start)


def go_renders_per_second(templates: dict[str, str]) -> dict[str, float | None]:
    if shutil.which("go") is None:
        return dict.fromkeys(templates)
    binary = Path(tempfile.mkdtemp()) / "gooracle"
    subprocess.run(
        ["go", "build", "-o", str(binary), "."],
        cwd=ROOT / "tests" / "oracle" / "gotemplate",
        check=True,
    )
    cases = [
        {"name": name, "template": text, "secrets": SECRETS} for name, text in templates.items()
    ]
    out = subprocess.run(
        [str(binary), "-time", "20000"],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
    )
    results = json.loads(out.stdout)
    return {name: 1e9 / r["nsPerOp"] for name, r in zip(templates, results, strict=True)}


async def over_nats(count: int, concurrency: int, templates: dict[str, str]) -> float:
    async with BenchStack(services=("secrets", "renderer")) as stack:
        admin = Actor(user_id="bench", organization_id="bench", role=Role.ADMIN)
        gateway = await stack.broker("gateway")
        for key, value in SECRETS.items():
            await request(
                gateway,
                subjects.SECRET_CREATE,
                SecretCreateRequest(actor=admin, request_id=key, key=key, value=value),
                SecretMetadata,
                timeout=10,
            )
        platform = await stack.broker("platform")
        sem = asyncio.Semaphore(concurrency)

        async def render(i: int) -> None:
            async with sem:
                await request(
                    platform,
                    subjects.TEMPLATE_RENDER,
                    TemplateRenderRequest(
                        organization_id="bench",
                        deployment_id=f"d{i % 50}",
                        revision=i + 1,
                        env_file=templates["envFile"],
                    ),
                    TemplateRenderReply,
                    timeout=30,
                )

        start = time.perf_counter()
        await asyncio.gather(*(render(i) for i in range(count)))
        return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    templates = {"envFile": env_file(), "valuesYaml": values_yaml()}
    cache = TemplateCache()
    go = go_renders_per_second(templates)
    print(
        f"renderer vs Go text/template ({os.cpu_count()} cores, {time.strftime('%Y-%m-%d')},"
        f" Python {sys.version.split()[0]})"
    )
    print(f"{'measure':<44}{'sigil/s':>10}{'go/s':>12}{'go/sigil':>10}")
    for name, text in templates.items():
        compiled = cache.parse(text, name)
        engine = per_second(lambda c=compiled: c.render(SECRETS), args.seconds)
        full = per_second(
            lambda n=name, t=text: validate_file(n, t, SECRETS, compile_template=cache.parse),
            args.seconds,
        )
        g = go[name]
        go_text = f"{g:>12.0f}{g / engine:>9.1f}x" if g else f"{'(no Go)':>12}"
        print(f"{name + ': engine, cached template':<44}{engine:>10.0f}{go_text}")
        print(f"{name + ': render + structure check':<44}{full:>10.0f}")
    nats_rate = asyncio.run(over_nats(args.count, args.concurrency, templates))
    print(f"{'envFile over NATS (new revision each)':<44}{nats_rate:>10.0f}")


if __name__ == "__main__":
    main()
