"""Secret values in: stdin, ``-``, ``--value-file`` or a hidden prompt; ``.env`` files to import.

A value never comes from the command line (shell history, ``ps``), and no message here
ever quotes one: errors name the file, the line and the key.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

from sigil_cli.exitcodes import CliError, ExitCode

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "$": "$"}


def read_text_file(name: str, *, what: str) -> str:
    """A UTF-8 file the user named; a missing or unreadable one is a usage error (exit 2)."""
    path = Path(name)
    try:
        return path.read_text(encoding="utf-8")
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


def read_stdin(*, what: str) -> str:
    """All of stdin as UTF-8 text."""
    try:
        return sys.stdin.read()
    except UnicodeDecodeError as err:
        msg = f"{what} on stdin is not UTF-8 text"
        raise CliError(msg, ExitCode.USAGE) from err


def read_value(key: str, value_file: str | None, *, keep_newline: bool) -> str:
    """The value of ``key``: from ``value_file`` (``-`` = stdin), a hidden prompt, or stdin."""
    if value_file is not None and value_file != "-":
        value = read_text_file(value_file, what="value file")
    elif value_file is None and sys.stdin.isatty():
        import typer  # noqa: PLC0415 - only an interactive run needs the prompt

        # hide_input turns terminal echo off: the value never shows on screen or in a
        # terminal recording; asking twice catches a typo nobody could see.
        value = typer.prompt(f"Value of {key} (hidden)", hide_input=True, confirmation_prompt=True)
        keep_newline = True
    else:
        value = read_stdin(what="the value")
    if not keep_newline and value.endswith("\n"):
        # A trailing newline from `echo` or an editor is almost never part of the secret.
        value = value[:-1]
        value = value.removesuffix("\r")
    if not value:
        msg = f"the value of {key} is empty (Sigil values are non-empty)"
        raise CliError(msg, ExitCode.USAGE)
    return value


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
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        line_no = text.count("\n", 0, pos) + 1
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
        if problem := key_problem(key):
            raise _fail(source, line_no, problem)
        if key in seen:
            raise _fail(source, line_no, f"{key} appears twice (first on line {seen[key]})")
        value_start = pos + line.index("=") + 1
        while value_start < end and text[value_start] in " \t":
            value_start += 1
        first = text[value_start] if value_start < end else ""
        if first in ('"', "'"):
            found = _quoted(text, value_start + 1, first)
            if found is None:
                raise _fail(source, line_no, f"{key}: quoted value is never closed")
            value, after = found
            rest_end = text.find("\n", after)
            rest_end = len(text) if rest_end < 0 else rest_end
            rest = text[after:rest_end].strip()
            if rest and not rest.startswith("#"):
                raise _fail(source, line_no, f"{key}: unexpected text after the closing quote")
            pos = rest_end + 1
        else:
            raw = text[value_start:end]
            comment = raw.find(" #")
            value = (raw[:comment] if comment >= 0 else raw).rstrip()
            pos = end + 1
        if not value:
            raise _fail(source, line_no, f"{key} has an empty value (Sigil values are non-empty)")
        seen[key] = line_no
        entries.append(EnvEntry(key=key, value=value, line=line_no))
    return entries
