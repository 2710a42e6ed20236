"""``make bench``: run every benchmark and write BENCHMARKS.md (figures next to baselines).

Each benchmark script prints its own table, measured with its baseline in the same run; this
collects them with the machine and the date into one file.
"""

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHES = [
    ("Secrets service over NATS vs raw JetStream KV", ["bench.secrets_bench"]),
    ("Renderer vs Go's text/template", ["bench.renderer_bench"]),
    ("Log redaction vs naive baselines", ["bench.redactor_bench", "--mb", "10"]),
    ("Gateway vs a FastAPI hello-world", ["bench.gateway_bench"]),
    ("Bus handler CPU: raw nats-py vs FastStream", ["bench.bus_handler_bench"]),
]


def main() -> None:
    sections = []
    for title, args in BENCHES:
        print(f"== {title}", flush=True)
        result = subprocess.run(
            [sys.executable, "-m", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        output = result.stdout.strip() or result.stderr.strip()[-2000:]
        print(output, flush=True)
        sections.append(f"## {title}\n\n`python -m {' '.join(args)}`\n\n```\n{output}\n```\n")
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()},"
        f" {platform.platform()}"
    )
    text = (
        f"# Benchmarks\n\nMeasured {time.strftime('%Y-%m-%d %H:%M %Z')} on {machine}.\n"
        "Every figure stands next to its baseline measured in the same run.\n\n"
        + "\n".join(sections)
    )
    (ROOT / "BENCHMARKS.md").write_text(text, encoding="utf-8")
    print("wrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
