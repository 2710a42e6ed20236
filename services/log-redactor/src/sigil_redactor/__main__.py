"""``python -m sigil_redactor``: run one redactor replica."""

from sigil_redactor.app import create_app
from sigil_shared.service import run_service
from sigil_shared.settings import RedactorSettings


def main() -> None:
    """Run the redactor until signalled."""
    run_service(RedactorSettings, create_app, service="redactor")


if __name__ == "__main__":
    main()
