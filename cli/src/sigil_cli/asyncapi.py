"""``sigil docs asyncapi``: the AsyncAPI document of the whole bus, generated from the code.

FastStream documents every subscriber and publisher of the three bus services, all
registered from the declarations in ``sigil_shared.operations``; the declared events no
bus service publishes (the platform's raw log records) are added here from the same
declarations. The result is committed at docs/asyncapi.json and packaged with the gateway,
which serves it at /asyncapi; a test fails when either copy is stale.
"""

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
TARGETS = (
    ROOT / "docs" / "asyncapi.json",
    ROOT / "services" / "gateway" / "src" / "sigil_gateway" / "asyncapi.json",
)


def generate() -> str:
    """The document as pretty JSON (deterministic)."""
    from faststream.specification import AsyncAPI  # noqa: PLC0415

    from sigil_redactor.app import create_app as redactor  # noqa: PLC0415
    from sigil_renderer.app import create_app as renderer  # noqa: PLC0415
    from sigil_secrets.app import create_app as secrets  # noqa: PLC0415
    from sigil_shared.operations import EVENTS  # noqa: PLC0415
    from sigil_shared.settings import (  # noqa: PLC0415
        RedactorSettings,
        RendererSettings,
        SecretsSettings,
    )

    doc_key = "doc:" + base64.b64encode(bytes(32)).decode()
    apps = [
        secrets(SecretsSettings(kek=doc_key, audit_key=doc_key)),
        renderer(RendererSettings()),
        redactor(RedactorSettings()),
    ]
    spec = AsyncAPI(
        *[app.broker for app in apps if app.broker is not None],
        title="Sigil bus",
        version="0.1.0",
        description="Every NATS subject of Sigil. Requests carry a contract; replies are "
        "{ok, data, error}. NATS users and subject permissions limit who may use each one.",
    )
    document: dict[str, Any] = json.loads(spec.to_specification().to_json())
    messages = document.setdefault("components", {}).setdefault("messages", {})
    for event in EVENTS:
        if event.address in document["channels"]:
            continue
        # Published by users outside the three bus services (the platform): from the
        # declaration, so every declared channel is documented.
        name = event.message.__name__
        document["channels"][event.address] = {
            "address": event.address,
            "description": event.description,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        messages[name] = {
            "title": name,
            "payload": event.message.model_json_schema(by_alias=True),
        }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def docs_command(args: argparse.Namespace) -> int:
    """Write the document, or with --check fail when a committed copy is stale."""
    text = generate()
    stale = [path for path in TARGETS if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"stale: {path} (run: sigil docs asyncapi)", file=sys.stderr)
        return 1 if stale else 0
    for path in TARGETS:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


def add_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register ``sigil docs asyncapi``."""
    docs = sub.add_parser("docs", help="generated documentation")
    docs_sub = docs.add_subparsers(dest="docs_command", required=True)
    asyncapi = docs_sub.add_parser("asyncapi", help="write docs/asyncapi.json from the code")
    asyncapi.add_argument("--check", action="store_true", help="fail if the copy is stale")
    asyncapi.set_defaults(func=docs_command)
