"""Red-team finding N2: validating a 1 MiB env file of ~990 references to missing 1,000-character
keys. CPU of value-blind validation, and the size of the validate reply the renderer sends.

    .venv/bin/python -m bench.oversized_validate_bench

CPU milliseconds of this process (time.process_time), best of three runs, each on a freshly
parsed template (no cache, no compiled regular expression left from an earlier run), next to
100 references for scale; the reply is the bounded one the renderer sends (JSON bytes).
"""

import re
import time

from sigil_renderer.domain.validation import validate_blind
from sigil_shared.contracts import TemplateValidateReply

KEY_CHARS = 1000


def template(references: int, size: int = 1024 * 1024) -> str:
    """``references`` lines ``Vn={{ .Secrets.K...n }}`` of ~1 KiB, padded with comment lines
    to ``size`` bytes (the 1 MiB limit)."""
    lines = []
    for i in range(references):
        key = f"K{i:06d}".ljust(KEY_CHARS, "X")
        lines.append(f"V{i}={{{{ .Secrets.{key} }}}}")
    text = "\n".join(lines) + "\n"
    pad = size - len(text.encode()) - 1
    if pad > 0:
        text += ("# " + "p" * 78 + "\n") * (pad // 81)
    return text


def measure(references: int) -> None:
    text = template(references)
    best = float("inf")
    result = None
    for _ in range(3):
        re.purge()  # as a fresh process would: no pattern compiled by an earlier run
        start = time.process_time()
        result = validate_blind("envFile", text, frozenset())
        best = min(best, time.process_time() - start)
    assert result is not None
    errors = result.issues
    reply = TemplateValidateReply(
        valid=not errors,
        errors=errors,
        references=sorted(result.references),
        missing=sorted(result.missing),
    )
    size = len(reply.model_dump_json(by_alias=True).encode())
    print(
        f"{references:5d} references, {len(text.encode()):,} bytes: validate {best * 1000:8.1f} ms"
        f" CPU; {len(errors)} errors ({len(reply.errors)} listed, {reply.errors_omitted} omitted);"
        f" reply {size:,} bytes"
    )


def main() -> None:
    for references in (100, 990):
        measure(references)


if __name__ == "__main__":
    main()
