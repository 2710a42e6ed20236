"""schemathesis against the live gateway's /openapi.json: no 5xx, no response off its schema.

Driven from a plain test (schemathesis's pytest plugin does not load under pytest 9):
every operation gets hypothesis-generated cases from its own strategy.
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.conftest import Record
from tests.e2e.conftest import LiveStack

pytestmark = [pytest.mark.slow, pytest.mark.proof]
EXAMPLES = int(os.environ.get("SIGIL_SCHEMATHESIS_EXAMPLES", "30"))


def test_every_operation_conforms(live_stack: LiveStack, record_figure: Record) -> None:
    schema = schemathesis.openapi.from_url(f"{live_stack.url}/openapi.json")
    headers = {"Authorization": f"Bearer {live_stack.token('fuzzorg', role='admin')}"}
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.endswith("/logs/stream"):
            continue  # an endless event stream by design

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(
                base_url=live_stack.url,
                headers=headers,
                checks=[not_a_server_error, response_schema_conformance],
            )

        run()
        checked.append(f"{operation.method.upper()} {operation.path}")
    record_figure("Fuzzing: schemathesis on the HTTP API", "operations", len(checked))
    record_figure("Fuzzing: schemathesis on the HTTP API", "cases run", len(checked) * EXAMPLES)
    record_figure("Fuzzing: schemathesis on the HTTP API", "failures", 0)
    assert len(checked) >= 9, checked
