"""The HTTP load harness of the benchmarks: ``wrk`` plus per-process CPU from ``/proc``.

``wrk`` (C, epoll) saturates a Python server from one core, where a Python client loop caps
itself first. Figures come from wrk's own ``done`` hook as one JSON line (requests,
duration, latency percentiles, errors). Wall-clock rates are noisy on a shared machine, so
each run also reports CPU milliseconds per request for the server processes named, from
``utime + stime`` deltas in ``/proc/<pid>/stat``.
"""

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")

# ``request`` builds each request (unique keys for POST: thread id + counter); ``done``
# prints the summary as JSON so nothing parses wrk's human-readable table.
_LUA = """
local counter = 0
local thread_id = 0
local threads = {}
local method = os.getenv("WRK_METHOD") or "GET"
local body_template = os.getenv("WRK_BODY") or ""

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  thread_id = tid or 0
end

function request()
  counter = counter + 1
  local body = nil
  if body_template ~= "" then
    body = string.gsub(body_template, "{n}", thread_id .. "_" .. counter)
  end
  return wrk.format(method, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass
class WrkResult:
    """One wrk run: rate, latency and, per named process, CPU ms per request."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    non_2xx: int
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_missing() -> str | None:
    """Why wrk cannot run here (a message for the reader), or None when it can."""
    if shutil.which("wrk") is None:
        return "wrk is not installed (make bench installs Debian's wrk when run as root)"
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def run_wrk(
    url: str,
    *,
    seconds: float,
    connections: int,
    threads: int = 2,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: str = "",
    processes: dict[str, int] | None = None,
) -> WrkResult:
    """Load ``url`` for ``seconds``; ``{n}`` in ``body`` becomes a unique token per request."""
    processes = processes or {}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_LUA)
    args = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        script.name,
    ]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    if body:
        args += ["-H", "Content-Type: application/json"]
    env = dict(os.environ, WRK_METHOD=method, WRK_BODY=body)
    before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    try:
        done = subprocess.run(
            [*args, url], capture_output=True, text=True, env=env, check=True, timeout=600
        )
    finally:
        Path(script.name).unlink()
    after = {name: cpu_seconds(pid) for name, pid in processes.items()}
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    requests = int(data["requests"])
    non_2xx = 0
    for text in done.stdout.splitlines():
        if "Non-2xx or 3xx responses:" in text:
            non_2xx = int(text.split(":")[1])
    return WrkResult(
        requests=requests,
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=sum(int(data[k]) for k in ("connect", "read", "write", "timeout")),
        non_2xx=non_2xx,
        cpu_ms_per_request={
            name: (after[name] - before[name]) * 1000 / max(1, requests) for name in processes
        },
    )
