"""Hostile templates: the alias bomb and the parse limits, next to baselines of the same run.

    .venv/bin/python -m bench.hostile_templates_bench

CPU milliseconds of this process (time.process_time; wall clock is noisy on a shared
machine) and the peak of traced Python memory. Baselines measured in the same run: the
same YAML read by PyYAML's own composer (the cheapest full read; it keeps aliases as shared
nodes), what expanding the aliases would build, and the largest template the parser accepts.
"""

import contextlib
import time
import tracemalloc
from collections.abc import Callable

import yaml

from sigil_renderer.domain.validation import validate_blind, validate_file
from sigil_renderer.engine import MAX_ACTIONS, TemplateCache, TemplateError, parse


def alias_bomb() -> str:
    """~350 bytes: nine levels of nine aliases each, one reference to a non-plain value."""
    lines = ['a: &a ["{{ .Secrets.V }}", x]']
    prev = "a"
    for name in "bcdefghij":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = name
    return "\n".join(lines) + "\n"


def measure(label: str, run: Callable[[], object]) -> None:
    """CPU of one run (untraced: tracemalloc slows Python down), then its peak memory."""
    start = time.process_time()
    try:
        outcome = run()
    except TemplateError as err:
        outcome = f"refused: {err.go_message}"
    cpu = (time.process_time() - start) * 1000
    tracemalloc.start()
    with contextlib.suppress(TemplateError):
        run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label:<52} {cpu:8.1f} ms CPU {peak / 1024 / 1024:7.2f} MiB peak  {outcome}")


def main() -> None:
    bomb = alias_bomb()
    print(f"alias bomb: {len(bomb)} bytes; expanding it would build 9**9 = {9**9:,} nodes")
    measure(
        "baseline: PyYAML compose (aliases shared)",
        lambda: type(yaml.compose(bomb.replace("{{ .Secrets.V }}", "x"))).__name__,
    )
    measure(
        "render check, V = 'x\\ny' (breaks the document)",
        lambda: [i.key for i in validate_file("valuesYaml", bomb, {"V": "x\ny"}).issues],
    )
    measure(
        "render check, V = 'harmless'",
        lambda: len(validate_file("valuesYaml", bomb, {"V": "harmless"}).issues),
    )
    measure(
        "validate (value-blind)",
        lambda: [i.key for i in validate_blind("valuesYaml", bomb, frozenset({"V"})).issues],
    )
    print()
    measure(
        f"baseline: parse {MAX_ACTIONS - 1} actions (largest accepted)",
        lambda: len(parse("{{ 1 }}" * (MAX_ACTIONS - 1)).trees),
    )
    measure("700 KB of {{ 1 }}", lambda: parse("{{ 1 }}" * (700 * 1024 // 7)))
    measure("1 MiB of {{ 1 }}", lambda: parse("{{ 1 }}" * (1024 * 1024 // 7)))
    measure(
        "one action of 400,000 operands (800 KB)",
        lambda: parse("{{ print " + "1 " * 400_000 + "}}"),
    )
    print()
    check_cost()


def check_cost(count: int = 500) -> None:
    """CPU per render of the round-trip check, next to the render alone (same run)."""
    cache = TemplateCache()
    env = "".join(
        f"K{i}={{{{ .Secrets.S{i} }}}}\n" if i % 2 == 0 else f"PLAIN{i}=value-{i}\n"
        for i in range(40)
    )
    env_q = env.replace(" }}", ' | printf "%q" }}')
    yaml_text = "".join(
        f'k{i}: {{{{ .Secrets.S{i} | printf "%q" }}}}\n' if i % 2 == 0 else f"p{i}: v-{i}\n"
        for i in range(40)
    )
    cases = [
        ("40-line env, 20 refs, plain values", "envFile", env, "secret-value-{i}-abcdef0123"),
        ("40-line env, 20 refs via printf %q, values with ' #'", "envFile", env_q, "v {i} #x"),
        ("40-line Helm values, 20 refs via printf %q", "valuesYaml", yaml_text, "v {i}: #x"),
    ]
    for label, file, text, pattern in cases:
        values = {f"S{i}": pattern.format(i=i) for i in range(0, 40, 2)}
        compiled = cache.parse(text, file)
        start = time.process_time()
        for _ in range(count):
            compiled.render(values)
        alone = (time.process_time() - start) / count * 1e6
        start = time.process_time()
        for _ in range(count):
            assert not validate_file(file, text, values, compile_template=cache.parse).issues
        checked = (time.process_time() - start) / count * 1e6
        print(f"{label:<52} render {alone:6.0f} us CPU, render + checks {checked:6.0f} us CPU")


if __name__ == "__main__":
    main()
