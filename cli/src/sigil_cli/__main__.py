"""``python -m sigil_cli`` and the ``sigil`` console script."""

import sys

from sigil_cli.main import main


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
