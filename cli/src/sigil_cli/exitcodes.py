"""Exit codes of the ``sigil`` command and the error every command raises to use them."""

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """What a script can rely on; documented in ``sigil --help`` and the README."""

    OK = 0
    PROBLEMS = 1
    USAGE = 2
    NOT_FOUND = 3
    CONFLICT = 4
    PERMISSION = 5
    UNAVAILABLE = 6
    OTHER = 7


EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 template/validation problems found, 2 usage (bad option, "
    "missing file, invalid input), 3 not found, 4 conflict (already exists, in use, port "
    "taken), 5 permission (401/403), 6 unreachable or unavailable, 7 other."
)


_STATUS_EXIT = {
    400: ExitCode.USAGE,
    401: ExitCode.PERMISSION,
    403: ExitCode.PERMISSION,
    404: ExitCode.NOT_FOUND,
    409: ExitCode.CONFLICT,
    413: ExitCode.USAGE,
    422: ExitCode.USAGE,
    429: ExitCode.UNAVAILABLE,
    502: ExitCode.UNAVAILABLE,
    503: ExitCode.UNAVAILABLE,
    504: ExitCode.UNAVAILABLE,
}


def exit_for_status(status: int) -> ExitCode:
    """The exit code of an HTTP status (a Sigil error's status, from its code)."""
    return _STATUS_EXIT.get(status, ExitCode.OTHER)


class CliError(Exception):
    """A failure the user is told about in one line on stderr, with its exit code.

    ``payload`` is the machine-readable form printed on stdout under ``--json``. Messages
    never carry a secret value: callers build them from keys, paths and API error codes.
    """

    def __init__(
        self, message: str, code: ExitCode = ExitCode.USAGE, *, payload: Any = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.payload = payload


class OutputClosedError(Exception):
    """Whoever read our stdout went away (``sigil audit | head``): stop quietly."""
