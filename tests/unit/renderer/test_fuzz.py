"""Hypothesis: whatever the text, the engine raises only TemplateError, within its limits."""

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigil_renderer import TemplateError, parse, render
from sigil_renderer.template.executor import Limits
from tests.conftest import Record

pytestmark = pytest.mark.proof
ENGINE_EXAMPLES = 600
TEXT_EXAMPLES = 300
PIECES = st.sampled_from(
    [
        "{{",
        "}}",
        "{{-",
        "-}}",
        " ",
        ".Secrets",
        ".A",
        ".B",
        "$",
        "$x",
        ":=",
        "=",
        "|",
        "(",
        ")",
        "if",
        "else",
        "end",
        "range",
        "with",
        "define",
        "template",
        "block",
        "break",
        "continue",
        '"t"',
        "`r`",
        "'c'",
        "1",
        "-2",
        "3.5",
        "1e9",
        "nil",
        "true",
        "printf",
        '"%s"',
        "index",
        "slice",
        "len",
        "eq",
        "and",
        "or",
        "not",
        "print",
        "html",
        "js",
        "urlquery",
        "call",
        "/*",
        "*/",
        "\n",
        "x",
        "é",
        ",",
        "#",
        "\x00",
    ]
)


@settings(max_examples=ENGINE_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PIECES, max_size=40).map("".join))
def test_engine_raises_only_template_errors(template: str) -> None:
    with contextlib.suppress(TemplateError):
        render(template, {"A": "1", "B": "two"})


@settings(max_examples=TEXT_EXAMPLES, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes(template: str) -> None:
    with contextlib.suppress(TemplateError):
        parse(template).render({"A": "x"}, limits=Limits(timeout=1.0))


def test_fuzz_budget_is_recorded(record_figure: Record) -> None:
    """The figure `make proof` reports: examples per run, failures (a failure fails above)."""
    record_figure(
        "Fuzzing: template engine (hypothesis)", "examples per run", ENGINE_EXAMPLES + TEXT_EXAMPLES
    )
    record_figure("Fuzzing: template engine (hypothesis)", "failures", 0)
