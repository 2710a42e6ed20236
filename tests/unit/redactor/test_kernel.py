"""The masking kernel against a slow, obviously correct reference, plus the known holes."""

import base64
import json
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigil_redactor import MASK, Redactor
from sigil_redactor.domain.forms import all_forms
from tests.conftest import Record


def reference(text: str, values: list[str], min_length: int = 4) -> str:
    """Mark every character covered by any occurrence of any form; mask overlapping runs."""
    patterns = all_forms(values, min_length=min_length)
    data = text.encode("utf-8", "surrogatepass")
    spans = []
    for pattern in patterns:
        needle = pattern.encode("utf-8", "surrogatepass")
        start = data.find(needle)
        while start != -1:
            spans.append((start, start + len(needle)))
            start = data.find(needle, start + 1)
    if not spans:
        return text
    spans.sort()
    merged = [list(spans[0])]
    for start, end in spans[1:]:
        if start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, cursor = b"", 0
    for start, end in merged:
        out += data[cursor:start] + MASK.encode()
        cursor = end
    return (out + data[cursor:]).decode("utf-8", "surrogatepass")


def test_distr_prefix_case_leaves_nothing_of_the_longer_secret() -> None:
    short, long = "sk_live_51Habc", "sk_live_51HabcDEF987xyz"
    redactor = Redactor([short, long])
    line = f"charging with {long} and {short}."
    out = redactor.redact(line)
    assert out == f"charging with {MASK} and {MASK}."
    assert "DEF987" not in out
    assert "xyz" not in out


def test_overlapping_secrets_become_one_mask() -> None:
    assert Redactor(["abcdef", "defghi"]).redact("x abcdefghi y") == f"x {MASK} y"


def test_every_documented_form_is_masked() -> None:
    value = 'pa$$ "word"/é\nsecond-line'
    redactor = Redactor([value])
    blob = base64.b64encode(b"user:" + value.encode()).decode()
    lines = [
        value,
        json.dumps({"password": value}),
        f"url=https://x/?p={quote(value, safe='')}",
        f'env PASSWORD="{value.replace(chr(10), chr(92) + "n")}"',
        "second-line on its own",
        "xml <p>pa$$ &quot;word&quot;/é</p>",
        f"Authorization: Basic {blob}",
    ]
    for line in lines:
        out = redactor.redact(line)
        assert MASK in out, line
        assert "pa$$" not in out
        assert "second-line" not in out


def test_short_values_are_not_masked() -> None:
    assert Redactor(["abc"]).redact("abc abc") == "abc abc"
    assert Redactor(["abcd"], min_length=5).redact("abcd") == "abcd"


def test_hostile_inputs_never_raise() -> None:
    redactor = Redactor(["secret-value"])
    assert redactor.redact("") == ""
    assert redactor.redact("\ud800 secret-value \udfff") == f"\ud800 {MASK} \udfff"
    big = ("x" * 1000 + "secret-value") * 1000
    assert redactor.redact(big).count(MASK) == 1000
    assert Redactor([]).redact("anything") == "anything"


REFERENCE_EXAMPLES = 400
PLANTED_EXAMPLES = 300
values_strategy = st.lists(
    st.text(alphabet="abcé:/+ \n=-_", min_size=1, max_size=12), min_size=1, max_size=6
)
text_strategy = st.text(alphabet="abcé:/+ \n=-_xyz%2B", max_size=120)


@pytest.mark.proof
@settings(max_examples=REFERENCE_EXAMPLES, deadline=None)
@given(values_strategy, text_strategy)
def test_kernel_matches_the_reference(values: list[str], text: str) -> None:
    assert Redactor(values).redact(text) == reference(text, values)


@pytest.mark.proof
@settings(max_examples=PLANTED_EXAMPLES, deadline=None)
@given(values_strategy, st.data())
def test_planted_values_never_survive(values: list[str], data: st.DataObject) -> None:
    maskable = [v for v in values if len(v) >= 4]
    pieces = data.draw(st.lists(st.sampled_from([*values, "x", " ", "abc", "\n"]), max_size=10))
    text = "".join(pieces)
    out = Redactor(values).redact(text)
    assert out == reference(text, values)
    for value in maskable:
        assert value not in out or value in MASK


@pytest.mark.proof
def test_fuzz_budget_is_recorded(record_figure: Record) -> None:
    """The figure `make proof` reports: examples per run, failures (a failure fails above)."""
    record_figure(
        "Fuzzing: redactor vs slow reference (hypothesis)",
        "examples per run",
        REFERENCE_EXAMPLES + PLANTED_EXAMPLES,
    )
    record_figure("Fuzzing: redactor vs slow reference (hypothesis)", "failures", 0)
