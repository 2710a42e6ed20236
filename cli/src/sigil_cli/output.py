"""Printing for people and scripts: tables, ``--json``, warnings on stderr, closed pipes."""

import json
import sys
from typing import Any


def out(text: str) -> None:
    """One block of text on stdout; a reader that went away ends the command quietly."""
    from sigil_cli.exitcodes import OutputClosedError  # noqa: PLC0415 - tiny, keeps start-up lean

    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError as err:
        raise OutputClosedError from err


def warn(text: str) -> None:
    """A warning on stderr (never mixed into the output a script parses)."""
    sys.stderr.write(f"sigil: warning: {text}\n")
    sys.stderr.flush()


def emit(as_json: bool, data: Any, text: str) -> None:
    """``data`` as JSON for scripts, else ``text`` for people."""
    out(json.dumps(data, indent=2) if as_json else text)


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    """Left-aligned columns with a header; ``-`` for a missing cell."""
    if not rows:
        return "(none)"
    cells = [[_cell(r.get(key)) for key, _ in columns] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h) in enumerate(columns)]
    lines = ["  ".join(h.ljust(w) for (_, h), w in zip(columns, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)
