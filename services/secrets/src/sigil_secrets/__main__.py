"""``python -m sigil_secrets``: run one secrets replica."""

from sigil_secrets.app import create_app
from sigil_shared.service import run_service
from sigil_shared.settings import SecretsSettings


def main() -> None:
    """Run the secrets until signalled."""
    run_service(SecretsSettings, create_app, service="secrets")


if __name__ == "__main__":
    main()
