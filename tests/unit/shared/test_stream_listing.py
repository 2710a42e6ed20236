"""Stream info (which lists every subject of a stream) only where it tells a user nothing new.

``$JS.API.STREAM.INFO.<stream>`` with ``subjects_filter`` lists every subject: on the secrets
bucket every organization, customer organization, key name and secret id. The renderer and
the redactor may only get ``g.<org>`` keys there, so they must not have it; every listing
API (stream names and lists, consumer names and lists) is the setup step's alone.
"""

import pytest

from sigil_shared import operations as ops
from sigil_shared import subjects
from sigil_shared.permissions import service_permissions
from sigil_shared.streams import STREAMS, lists_subjects, probe_subject, used_by
from tests.unit.shared.test_bus_declarations import matches

SECRETS_KV = subjects.kv_stream(subjects.SECRETS_BUCKET)
RECEIPTS_KV = subjects.kv_stream(subjects.RECEIPTS_BUCKET)

#: Who may list which stream, and why it learns nothing from it.
EXPECTED = {
    # Reads and writes every key of the secrets bucket and the audit stream; consumes intake.
    "secrets": {subjects.AUDIT_STREAM, subjects.AUDIT_INTAKE_STREAM, SECRETS_KV},
    # Only publisher of value-use intake; writes and reads every receipt.
    "renderer": {subjects.AUDIT_INTAKE_STREAM, RECEIPTS_KV},
    # Consumes every raw record, reads and writes every redacted one, reads every receipt.
    "redactor": {subjects.LOGS_RAW_STREAM, subjects.LOGS_REDACTED_STREAM, RECEIPTS_KV},
    "gateway": set(),
    # Only publisher of raw records.
    "platform": {subjects.LOGS_RAW_STREAM},
}


def _info_grants(user: str) -> set[str]:
    perms = service_permissions()[user]
    return {
        spec.name
        for spec in STREAMS
        if any(matches(p, f"$JS.API.STREAM.INFO.{spec.name}") for p in perms.publish)
    }


@pytest.mark.parametrize("user", ops.RUNTIME_USERS)
def test_stream_info_only_where_the_user_sees_every_subject_anyway(user: str) -> None:
    assert _info_grants(user) == EXPECTED[user]
    assert {s.name for s in STREAMS if lists_subjects(s, user)} == EXPECTED[user]


@pytest.mark.parametrize("user", ["renderer", "redactor"])
def test_key_readers_cannot_list_the_secrets_bucket(user: str) -> None:
    perms = service_permissions()[user]
    assert not any(matches(p, f"$JS.API.STREAM.INFO.{SECRETS_KV}") for p in perms.publish)
    # Their one right there: direct gets of generation keys.
    bucket = [p for p in perms.publish if SECRETS_KV in p]
    assert bucket == [f"$JS.API.DIRECT.GET.{SECRETS_KV}.$KV.{subjects.SECRETS_BUCKET}.g.*"]


@pytest.mark.parametrize("user", ops.RUNTIME_USERS)
def test_no_runtime_user_may_call_a_listing_api(user: str) -> None:
    perms = service_permissions()[user]
    listing = ["$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST"]
    for spec in STREAMS:
        listing += [f"$JS.API.CONSUMER.NAMES.{spec.name}", f"$JS.API.CONSUMER.LIST.{spec.name}"]
    granted = [api for api in listing if any(matches(p, api) for p in perms.publish)]
    assert not granted, f"{user} may {granted}"


@pytest.mark.parametrize("user", ops.RUNTIME_USERS)
def test_every_stream_a_user_may_not_list_has_a_readiness_probe(user: str) -> None:
    perms = service_permissions()[user]
    for spec in used_by(user):
        if lists_subjects(spec, user):
            continue
        probe = probe_subject(spec, user)
        assert probe is not None, (user, spec.name)
        # The probe is a direct get the user may make, of a key no id can be.
        direct = f"$JS.API.DIRECT.GET.{spec.name}.{probe}"
        assert any(matches(p, direct) for p in perms.publish), (user, direct)
        assert probe.split(".")[-1] == "_ready"
