"""Options every ``sigil`` command accepts, wherever they appear on the line."""

from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATA_DIR = Path(".sigil")

#: Global options that take a value; ``main`` moves them in front of the subcommand so
#: ``sigil secrets list --url X`` works like ``sigil --url X secrets list``.
VALUE_OPTIONS = ("--url", "--token", "--data-dir")


@dataclass(frozen=True)
class GlobalOptions:
    """``--url/SIGIL_URL``, ``--token/SIGIL_TOKEN``, ``--data-dir/SIGIL_DATA_DIR``."""

    url: str | None
    token: str | None
    data_dir: Path
    #: Closed when the command ends (HTTP connections), even when it fails.
    resources: ExitStack = field(default_factory=ExitStack, compare=False)


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move every global option (and its value) to the front, before ``--`` only."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest += argv[i:]
            break
        if arg in VALUE_OPTIONS and i + 1 < len(argv):
            front += argv[i : i + 2]
            i += 2
            continue
        if arg.split("=", 1)[0] in VALUE_OPTIONS and "=" in arg:
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest
