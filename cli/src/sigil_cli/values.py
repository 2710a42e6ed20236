"""Secret values in: stdin, ``-``, ``--value-file`` or a hidden prompt; ``.env`` files to import.

A value never comes from the command line (shell history, ``ps``), and no message here
ever quotes one: errors name the file, the line and the key.
"""

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sigil_cli.exitcodes import CliError, ExitCode

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "$": "$"}


#: No file or stdin the CLI reads is larger than this (a template is at most 1 MiB, a value
#: 64 KiB): a wrong path to a huge file is refused instead of read into memory.
INPUT_MAX_BYTES = 16 * 1024 * 1024


def _too_large(what: str, limit: int) -> CliError:
    return CliError(f"{what} is larger than {limit // 1024} KiB", ExitCode.USAGE)


def read_text_file(name: str, *, what: str, max_bytes: int = INPUT_MAX_BYTES) -> str:
    """A UTF-8 file the user named; a missing or unreadable one is a usage error (exit 2)."""
    path = Path(name)
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise _too_large(f"{what} {name}", max_bytes)
        return data.decode("utf-8")
    except FileNotFoundError as err:
        msg = f"{what} {name} does not exist"
        raise CliError(msg, ExitCode.USAGE) from err
    except IsADirectoryError as err:
        msg = f"{what} {name} is a directory"
        raise CliError(msg, ExitCode.USAGE) from err
    except UnicodeDecodeError as err:
        msg = f"{what} {name} is not UTF-8 text"
        raise CliError(msg, ExitCode.USAGE) from err
    except OSError as err:
        msg = f"cannot read {what} {name}: {err.strerror}"
        raise CliError(msg, ExitCode.USAGE) from err


def read_stdin(*, what: str, max_bytes: int = INPUT_MAX_BYTES) -> str:
    """All of stdin as UTF-8 text (at most ``max_bytes``)."""
    try:
        text = sys.stdin.read(max_bytes + 1)  # characters: at least as many bytes
    except UnicodeDecodeError as err:
        msg = f"{what} on stdin is not UTF-8 text"
        raise CliError(msg, ExitCode.USAGE) from err
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogateescape")) > max_bytes:
        raise _too_large(f"{what} on stdin", max_bytes)
    return text


def read_value(key: str, value_file: str | None, *, keep_newline: bool) -> str:
    """The value of ``key``: from ``value_file`` (``-`` = stdin), a hidden prompt, or stdin."""
    from sigil_shared.ids import VALUE_MAX_BYTES  # noqa: PLC0415

    room = VALUE_MAX_BYTES + 2  # a trailing CR LF is dropped below
    if value_file is not None and value_file != "-":
        value = read_text_file(value_file, what="value file", max_bytes=room)
    elif value_file is None and sys.stdin.isatty():
        import typer  # noqa: PLC0415 - only an interactive run needs the prompt

        # hide_input turns terminal echo off: the value never shows on screen or in a
        # terminal recording; asking twice catches a typo nobody could see.
        value = typer.prompt(f"Value of {key} (hidden)", hide_input=True, confirmation_prompt=True)
        keep_newline = True
    else:
        value = read_stdin(what="the value", max_bytes=room)
    if not keep_newline and value.endswith("\n"):
        # A trailing newline from `echo` or an editor is almost never part of the secret.
        value = value[:-1]
        value = value.removesuffix("\r")
    if not value:
        msg = f"the value of {key} is empty (Sigil values are non-empty)"
        raise CliError(msg, ExitCode.USAGE)
    if value_problem(value):
        raise CliError(f"the value of {key} {value_problem(value)}", ExitCode.USAGE)
    return value


def value_problem(value: str) -> str | None:
    """Why the API would refuse ``value`` (checked before anything is sent), or None."""
    from sigil_shared.ids import VALUE_MAX_BYTES  # noqa: PLC0415

    if len(value.encode("utf-8", "surrogatepass")) > VALUE_MAX_BYTES:
        return f"is larger than {VALUE_MAX_BYTES // 1024} KiB"
    return None


@dataclass(frozen=True)
class EnvEntry:
    """One ``KEY=value`` of an env file and the line it starts on."""

    key: str
    value: str
    line: int


def _fail(source: str, line: int, problem: str) -> CliError:
    return CliError(f"{source}:{line}: {problem}", ExitCode.USAGE)


def _quoted(text: str, start: int, quote: str) -> tuple[str, int] | None:
    """The value of a quoted string starting after ``start``; its end index, or None."""
    chars: list[str] = []
    i = start
    while i < len(text):
        char = text[i]
        if char == quote:
            return "".join(chars), i + 1
        if char == "\\" and quote == '"' and i + 1 < len(text) and text[i + 1] in _ESCAPES:
            chars.append(_ESCAPES[text[i + 1]])
            i += 2
            continue
        chars.append(char)
        i += 1
    return None


def _value(text: str, start: int, end: int, *, fail: Callable[[str], CliError]) -> tuple[str, int]:
    """The value starting at ``start`` on a line ending at ``end``; where the next line starts."""
    while start < end and text[start] in " \t":
        start += 1
    first = text[start] if start < end else ""
    if first not in ('"', "'"):
        raw = text[start:end]
        comment = raw.find(" #")
        return (raw[:comment] if comment >= 0 else raw).rstrip(), end + 1
    found = _quoted(text, start + 1, first)
    if found is None:
        raise fail("quoted value is never closed")
    value, after = found
    rest_end = text.find("\n", after)
    rest_end = len(text) if rest_end < 0 else rest_end
    rest = text[after:rest_end].strip()
    if rest and not rest.startswith("#"):
        raise fail("unexpected text after the closing quote")
    return value, rest_end + 1


def parse_env(text: str, *, source: str) -> list[EnvEntry]:
    """Entries of a Docker-Compose style env file, checked whole before anything is sent.

    ``KEY=value`` per line, ``#`` comments, an optional ``export``; unquoted values end
    at `` #``; ``"..."`` (with ``\\n``-style escapes) and ``'...'`` (literal) may span lines.
    """
    from sigil_shared.ids import key_problem  # noqa: PLC0415 - pydantic only when importing

    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    entries: list[EnvEntry] = []
    seen: dict[str, int] = {}
    pos = 0
    counted_to, line_no = 0, 1  # line numbers counted incrementally: linear, not quadratic
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        line_no += text.count("\n", counted_to, pos)
        counted_to = pos
        line = text[pos:end]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            pos = end + 1
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export ") :].lstrip()
        name, sep, _ = stripped.partition("=")
        key = name.strip()
        if not sep:
            raise _fail(source, line_no, "expected KEY=value")

        def problem_at(problem: str, line: int = line_no, key: str = key) -> CliError:
            return _fail(source, line, f"{key}: {problem}")

        if problem := key_problem(key):
            raise _fail(source, line_no, problem)
        if key in seen:
            raise _fail(source, line_no, f"{key} appears twice (first on line {seen[key]})")
        value, pos = _value(text, pos + line.index("=") + 1, end, fail=problem_at)
        if not value:
            raise _fail(source, line_no, f"{key} has an empty value (Sigil values are non-empty)")
        if too_large := value_problem(value):
            raise _fail(source, line_no, f"{key}: the value {too_large}")
        seen[key] = line_no
        entries.append(EnvEntry(key=key, value=value, line=line_no))
    return entries
