"""Matcher builds run off the event loop: the loop keeps serving and shutdown does not wait."""

import random
import signal
import subprocess
import sys
import textwrap

from sigil_redactor.domain.kernel import Redactor
from sigil_redactor.domain.matchers import MatcherCache, Scope

_SCRIPT = textwrap.dedent(
    """
    import asyncio, random, signal, string, sys, threading
    from sigil_redactor.domain.matchers import build_off_loop

    rng = random.Random(3)
    # 64 KiB values of short lines: every line gets every encoding, a slow (linear) build.
    values = [
        "\\n".join("".join(rng.choices(string.ascii_letters, k=9)) for _ in range(6500))
        for _ in range(4)
    ]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        build = asyncio.ensure_future(build_off_loop(values, min_length=4))
        ticks = 0
        print("started", flush=True)
        while not stop.is_set():
            await asyncio.sleep(0.01)
            ticks += 1
            if ticks == 5:
                print("ticking", flush=True)
        print(f"ticks during the build: {ticks}; build running: {not build.done()}", flush=True)
        alive = [t for t in threading.enumerate() if t.name == "matcher-build"]
        print(f"builder threads: {[t.daemon for t in alive]}", flush=True)

    asyncio.run(main())
    """
)


def test_shutdown_is_prompt_while_a_matcher_builds() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _SCRIPT], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    assert proc.stdout.readline().strip() == "ticking"  # the loop runs during the build
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert "build running: True" in out  # shut down before the build finished
    assert "builder threads: [True]" in out  # a daemon thread: exit does not wait for it


async def test_deployments_of_one_scope_share_a_matcher_and_changes_rebuild_it() -> None:
    scopes = {
        "d1": Scope(customer="c1", all_customers=False, pinned=frozenset(), receipted=True),
        "d2": Scope(customer="c1", all_customers=False, pinned=frozenset(), receipted=True),
        "d3": Scope(customer=None, all_customers=True, pinned=frozenset(), receipted=False),
    }
    built: list[Scope] = []
    current = ["first-value"]

    async def scope(org: str, deployment: str) -> Scope:
        return scopes[deployment]

    async def values(org: str, which: Scope) -> list[str]:
        built.append(which)
        return list(current)

    cache = MatcherCache(scope=scope, values=values, min_length=4, size=8)
    one = await cache.get("o", "d1")
    assert await cache.get("o", "d2") is one
    assert await cache.get("o", "d3") is not one
    assert len(built) == 2
    current[:] = ["second-value"]
    cache.invalidate_organization("o")  # e.g. a secret deleted: its value leaves the set
    rebuilt = await cache.get("o", "d1")
    assert rebuilt.redact("first-value second-value") == "first-value ********"


def test_random_secret_sets_build_in_one_layer() -> None:
    rng = random.Random(5)
    values = ["".join(rng.choices("abcdefghijklmnop0123456789_-", k=24)) for _ in range(2000)]
    assert Redactor(values).layers == 1
