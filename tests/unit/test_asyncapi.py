"""The committed AsyncAPI document is the one the code generates, and lists every subject."""

import argparse
import json

from sigil_cli.asyncapi import TARGETS, docs_command, generate
from sigil_shared import subjects


def test_committed_documents_are_current() -> None:
    assert docs_command(argparse.Namespace(check=True)) == 0, "run: sigil docs asyncapi"


def test_every_command_and_event_subject_is_documented() -> None:
    document = json.loads(generate())
    addresses = {channel["address"] for channel in document["channels"].values()}
    expected = {
        subjects.SECRET_CREATE,
        subjects.SECRET_UPDATE,
        subjects.SECRET_DELETE,
        subjects.SECRET_GET,
        subjects.SECRET_LIST,
        subjects.AUDIT_QUERY,
        subjects.SECRET_RESOLVE,
        subjects.SECRET_REDACTION_VALUES,
        subjects.TEMPLATE_RENDER,
        subjects.TEMPLATE_VALIDATE,
        subjects.RECEIPT_IMPACT,
        subjects.LOGS_PAGE,
        "sigil.logs.raw.{org}.{deployment}",
        "sigil.logs.redacted.{org}.{deployment}",
        "sigil.audit.{org}.{action}",
        "sigil.events.secret.{change}.{org}",
        "sigil.events.receipt.{org}",
        *(subjects.health(s) for s in subjects.BUS_SERVICES),
    }
    assert expected <= addresses
    assert len(TARGETS) == 2
