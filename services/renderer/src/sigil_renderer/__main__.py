"""``python -m sigil_renderer``: run one renderer replica."""

from sigil_renderer.app import create_app
from sigil_shared.service import run_service
from sigil_shared.settings import RendererSettings


def main() -> None:
    """Run the renderer until signalled."""
    run_service(RendererSettings, create_app, service="renderer")


if __name__ == "__main__":
    main()
