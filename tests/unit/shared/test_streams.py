"""Stream declarations: which live configurations readiness reports as problems."""

import dataclasses

import pytest
from nats.js.api import DiscardPolicy, RetentionPolicy

from sigil_shared import subjects
from sigil_shared.streams import StreamLimits, config_problems, stream

LOSSLESS = [subjects.AUDIT_STREAM, subjects.AUDIT_INTAKE_STREAM]
DROPPING = [
    ("max_msgs", 1000),
    ("max_bytes", 1 << 20),
    ("max_age", 3600.0),
    ("max_msgs_per_subject", 5),
    ("discard", DiscardPolicy.OLD),
    ("deny_delete", False),
    ("deny_purge", False),
    ("allow_rollup_hdrs", True),
    ("allow_msg_ttl", True),
    ("sealed", True),
]


@pytest.mark.parametrize("name", LOSSLESS)
def test_declared_lossless_stream_has_no_problem(name: str) -> None:
    spec = stream(name)
    assert config_problems(spec, spec.config(replicas=3, limits=StreamLimits())) == []


@pytest.mark.parametrize("name", LOSSLESS)
@pytest.mark.parametrize(("field", "value"), DROPPING)
def test_every_setting_that_could_drop_events_is_a_problem(
    name: str, field: str, value: object
) -> None:
    spec = stream(name)
    live = dataclasses.replace(spec.config(replicas=1, limits=StreamLimits()), **{field: value})
    problems = config_problems(spec, live)
    assert problems
    assert any(field in p for p in problems), problems


def test_log_stream_limits_are_the_operators_choice_but_retention_is_not() -> None:
    spec = stream(subjects.LOGS_REDACTED_STREAM)
    limited = spec.config(
        replicas=1, limits=StreamLimits(redacted_max_age=60, redacted_max_bytes=1)
    )
    assert config_problems(spec, limited) == []
    raw = stream(subjects.LOGS_RAW_STREAM)
    wrong = dataclasses.replace(
        raw.config(replicas=1, limits=StreamLimits()), retention=RetentionPolicy.LIMITS
    )
    assert config_problems(raw, wrong) == [
        f"retention is {RetentionPolicy.LIMITS}, declared {RetentionPolicy.WORK_QUEUE}"
    ]


def test_renamed_subjects_are_a_problem() -> None:
    spec = stream(subjects.AUDIT_STREAM)
    live = dataclasses.replace(spec.config(replicas=1, limits=StreamLimits()), subjects=["x.>"])
    assert any("subjects" in p for p in config_problems(spec, live))
