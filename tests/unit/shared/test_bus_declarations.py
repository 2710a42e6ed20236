"""The bus declared once: handlers, callers and permissions all match the declarations."""

import ast
import base64
from pathlib import Path
from typing import Any

import pytest
from faststream import FastStream

from sigil_shared import operations as ops
from sigil_shared import subjects
from sigil_shared.permissions import service_permissions
from sigil_shared.streams import STREAMS, stream, used_by

ROOT = Path(__file__).resolve().parents[3]
#: Package source -> the NATS user its code runs as.
PACKAGES: dict[str, tuple[str, ...]] = {
    "services/secrets/src/sigil_secrets": ("secrets",),
    "services/renderer/src/sigil_renderer": ("renderer",),
    "services/log-redactor/src/sigil_redactor": ("redactor",),
    "services/gateway/src/sigil_gateway": ("gateway",),
    # Operator commands run as the secrets user (keys, audit verify) or as bootstrap;
    # ``sigil logs publish`` as the platform.
    "cli/src/sigil_cli": ("secrets", "bootstrap", "platform"),
}
#: Subject helpers of ``subjects`` -> the event they address.
EVENT_HELPERS = {
    "audit": ops.AUDIT_RECORDED,
    "audit_org": ops.AUDIT_RECORDED,
    "AUDIT_ALL": ops.AUDIT_RECORDED,
    "audit_intake": ops.VALUE_USE,
    "AUDIT_INTAKE_ALL": ops.VALUE_USE,
    "secret_event": ops.SECRET_CHANGED,
    "SECRET_EVENTS_ALL": ops.SECRET_CHANGED,
    "receipt_event": ops.RECEIPT_RECORDED,
    "RECEIPT_EVENTS_ALL": ops.RECEIPT_RECORDED,
    "logs_raw": ops.LOGS_RAW,
    "LOGS_RAW_ALL": ops.LOGS_RAW,
    "logs_redacted": ops.LOGS_REDACTED,
    "LOGS_REDACTED_ALL": ops.LOGS_REDACTED,
}
FORBIDDEN_FOR_RUNTIME = [
    f"$JS.API.{verb}.{spec.name}"
    for spec in STREAMS
    for verb in (
        "STREAM.CREATE",
        "STREAM.UPDATE",
        "STREAM.DELETE",
        "STREAM.PURGE",
        "STREAM.MSG.DELETE",
    )
] + [f"$JS.API.CONSUMER.DELETE.{spec.name}.x" for spec in STREAMS]


def matches(pattern: str, subject: str) -> bool:
    """NATS wildcard matching: ``*`` one token, ``>`` one or more trailing tokens."""
    pat, sub = pattern.split("."), subject.split(".")
    for i, token in enumerate(pat):
        if token == ">":
            return len(sub) > i
        if i >= len(sub) or (token != "*" and token != sub[i]):
            return False
    return len(pat) == len(sub)


def _apps() -> dict[str, FastStream]:
    from sigil_redactor.app import create_app as redactor
    from sigil_renderer.app import create_app as renderer
    from sigil_secrets.app import create_app as secrets
    from sigil_shared.settings import RedactorSettings, RendererSettings, SecretsSettings

    key = "t:" + base64.b64encode(bytes(32)).decode()
    return {
        "secrets": secrets(SecretsSettings(kek=key, audit_key=key)),
        "renderer": renderer(RendererSettings()),
        "redactor": redactor(RedactorSettings()),
    }


def test_every_handler_is_a_declared_operation_of_its_service() -> None:
    for service, app in _apps().items():
        assert app.broker is not None
        subscribers: list[Any] = list(app.broker.subscribers)
        served: dict[str, str] = {sub.subject.template: sub.queue for sub in subscribers}
        for subject, queue in served.items():
            op = ops.command_for(subject)
            if op is not None:
                assert op.owner == service, f"{service} answers {subject}, owned by {op.owner}"
                assert queue == op.queue
                continue
            events = [e for e in ops.EVENTS if e.pattern == subject]
            assert events, f"{service} subscribes to undeclared {subject}"
            assert service in events[0].subscribers, f"{service} may not receive {subject}"
            assert not queue, "events reach every replica"
        owned = {op.subject for op in ops.owned_by(service)}
        assert owned <= set(served), f"{service} leaves {owned - set(served)} unanswered"


def _references(path: Path) -> list[tuple[str, str, int]]:
    """``(module alias kind, attribute, line)`` for ``subjects.X`` and ``ops.X`` uses."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in {"subjects", "s"}:
                found.append(("subjects", node.attr, node.lineno))
            elif node.value.id in {"ops", "operations"}:
                found.append(("ops", node.attr, node.lineno))
        if isinstance(node, ast.ImportFrom) and node.module in {
            "sigil_shared.subjects",
            "sigil_shared.operations",
        }:
            kind = "subjects" if node.module.endswith("subjects") else "ops"
            found += [(kind, alias.name, node.lineno) for alias in node.names]
    return found


def _allowed(users: tuple[str, ...], kind: str, name: str) -> bool | None:
    """Whether code running as ``users`` may use what ``name`` names (None: not a channel)."""
    if kind == "ops":
        target: Any = getattr(ops, name, None)
    else:
        value = getattr(subjects, name, None)
        target = ops.command_for(value) if isinstance(value, str) else None
        if target is None:
            target = EVENT_HELPERS.get(name)
    if isinstance(target, ops.Command):
        return any(u in target.callers or u == target.owner for u in users)
    if isinstance(target, ops.Event):
        # A stream's consumers (durables, reads) use the event's subjects too.
        readers = set(stream(target.stream).access) if target.stream else set()
        return any(u in target.publishers | target.subscribers | readers for u in users)
    return None


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_every_caller_is_a_declared_user_of_the_operation(package: str) -> None:
    users = PACKAGES[package]
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for kind, name, line in _references(path):
            if _allowed(users, kind, name) is False:
                wrong.append(f"{path.relative_to(ROOT)}:{line} {kind}.{name}")
    assert not wrong, f"used by a package whose user the declaration does not name: {wrong}"


def _is_subject(text: str) -> bool:
    """True for a string that re-types a declared subject (logger and meter names are not)."""
    if text.startswith("_INBOX."):
        return True
    declared = [op.subject for op in ops.COMMANDS] + [e.pattern for e in ops.EVENTS]
    return any(text == d or matches(d, text) for d in declared)


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_subject_literal_outside_the_declarations(package: str) -> None:
    literals = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and _is_subject(node.value)
            ):
                literals.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert not literals


def _explained(user: str) -> tuple[set[str], set[str]]:
    """Publish and subscribe subjects the declarations give ``user`` (JetStream apart)."""
    publish = {op.subject for op in ops.COMMANDS if user in op.callers}
    publish |= {e.pattern for e in ops.EVENTS if user in e.publishers}
    subscribe = {op.subject for op in ops.COMMANDS if op.owner == user}
    subscribe |= {e.pattern for e in ops.EVENTS if user in e.subscribers}
    subscribe.add(f"{subjects.inbox_prefix(user)}.>")
    return publish, subscribe


def test_every_permission_is_named_by_a_declaration() -> None:
    table = service_permissions()
    assert set(table) == set(ops.USERS)
    for user in ops.RUNTIME_USERS:
        perms = table[user]
        publish, subscribe = _explained(user)
        stray = [
            p
            for p in perms.publish
            if p not in publish and not p.startswith(("$JS.API.", "$JS.ACK.", "$KV."))
        ]
        assert not stray, f"{user} may publish undeclared {stray}"
        jetstream = [p for p in perms.publish if p.startswith(("$JS.", "$KV."))]
        streams = {spec.name for spec in used_by(user)}
        for grant in jetstream:
            if grant == "$JS.API.INFO":
                continue
            named = any(name in grant.split(".") for name in streams) or any(
                spec.bucket and f"$KV.{spec.bucket}." in grant + "." for spec in used_by(user)
            )
            assert named, f"{user}: {grant} names no stream the declarations give it"
        assert set(perms.subscribe) == subscribe, user


@pytest.mark.parametrize("user", ops.USERS)
def test_no_user_may_subscribe_to_every_inbox_or_everything(user: str) -> None:
    perms = service_permissions()[user]
    for subject in ("_INBOX.x", "_INBOX.other.x", "anything"):
        assert not any(matches(p, subject) for p in perms.subscribe), (user, subject)
    assert perms.subscribe.count(f"_INBOX.{user}.>") == 1


@pytest.mark.parametrize("user", ops.RUNTIME_USERS)
def test_no_runtime_user_may_manage_streams_or_delete_consumers(user: str) -> None:
    perms = service_permissions()[user]
    granted = [api for api in FORBIDDEN_FOR_RUNTIME if any(matches(p, api) for p in perms.publish)]
    assert not granted, f"{user} may {granted}"


def test_only_the_renderer_and_redactor_may_ask_for_values() -> None:
    table = service_permissions()
    for user in ops.RUNTIME_USERS:
        publish = table[user].publish
        assert (subjects.SECRET_RESOLVE in publish) == (user == "renderer")
        assert (subjects.SECRET_REDACTION_VALUES in publish) == (user == "redactor")
