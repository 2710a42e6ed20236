"""The committed AsyncAPI document is the one the code generates, and matches the declarations."""

import argparse
import json

from sigil_cli.asyncapi import TARGETS, docs_command, generate
from sigil_shared.operations import COMMANDS, EVENTS


def test_committed_documents_are_current() -> None:
    assert docs_command(argparse.Namespace(check=True)) == 0, "run: sigil docs asyncapi"


def test_every_declared_operation_is_documented() -> None:
    document = json.loads(generate())
    addresses = {channel["address"] for channel in document["channels"].values()}
    expected = {op.subject for op in COMMANDS} | {event.address for event in EVENTS}
    assert expected <= addresses, expected - addresses
    assert len(TARGETS) == 2


def test_every_documented_channel_is_declared() -> None:
    document = json.loads(generate())
    declared = (
        {op.subject for op in COMMANDS}
        | {event.address for event in EVENTS}
        | {event.pattern for event in EVENTS}
    )
    stray = {c["address"] for c in document["channels"].values()} - declared
    assert not stray
