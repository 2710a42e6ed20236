"""Long values: their forms go into the automata as anchors, and mask as whole forms did.

The reference here is the kernel's old definition (every occurrence of every form, found
with ``bytes.find``, overlapping ones merged): whole forms of long values must mask exactly
that. A long form cut short masks as far as it goes (a prefix of a secret is secret
material), which the old kernel left visible.
"""

import base64
import json
import random
import string
import textwrap
import time
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from sigil_redactor import MASK, Redactor
from sigil_redactor.domain import forms as forms_module
from sigil_redactor.domain.forms import split_forms
from sigil_redactor.domain.kernel import ANCHOR_BYTES, AUTOMATON_MAX_BYTES, LINE_ANCHOR_BYTES

_ALPHABET = string.ascii_letters + string.digits + " \"'<>&/%+=\\\t\né€"


def _value(rng: random.Random, length: int, alphabet: str = _ALPHABET) -> str:
    return "".join(rng.choices(alphabet, k=length))


def _reference(texts: list[str], values: list[str]) -> list[str]:
    """Every occurrence of every whole form masked; overlapping occurrences as one mask."""
    needles = [
        p.encode("utf-8", "surrogatepass") for p in forms_module.all_forms(values, min_length=4)
    ]
    out = []
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        spans = []
        for needle in needles:
            start = data.find(needle)
            while start != -1:
                spans.append((start, start + len(needle)))
                start = data.find(needle, start + 1)
        spans.sort()
        merged: list[list[int]] = []
        for start, end in spans:
            if merged and start < merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        masked, cursor = b"", 0
        for start, end in merged:
            masked += data[cursor:start] + MASK.encode()
            cursor = end
        out.append((masked + data[cursor:]).decode("utf-8", "surrogatepass"))
    return out


def test_every_form_of_a_long_value_masks_exactly_as_before() -> None:
    rng = random.Random(1)
    values = [_value(rng, 6_000), _value(rng, 700), "short-secret-1"]
    redactor = Redactor(values)
    encodings, lines = split_forms(values, min_length=4)
    long_forms = sorted(f for f in encodings | lines if len(f.encode()) > LINE_ANCHOR_BYTES)
    assert any(len(f.encode()) > 12_000 for f in long_forms)  # hex of a 6,000-char value
    texts = [f"k{i}={form} next" for i, form in enumerate(long_forms)]
    texts += [f"  {line}\n  {line}" for line in sorted(lines)[:50]]
    assert redactor.redact_many(texts) == _reference(texts, values)


def test_documented_encodings_of_a_long_value_leave_nothing_visible() -> None:
    value = _value(random.Random(2), 60_000)
    redactor = Redactor([value])
    data = value.encode()
    for shown in (
        value,
        json.dumps({"v": value}),
        json.dumps(value, ensure_ascii=False),
        quote(value, safe=""),
        data.hex(),
        base64.b64encode(data).decode(),
        base64.urlsafe_b64encode(b"xy" + data).decode(),
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
    ):
        out = redactor.redact(f"before {shown} after")
        assert out.startswith("before ")
        assert out.endswith(" after")
        assert len(out) < 40, out[:80]  # the form is gone, at most a quote and a padding left


def test_values_sharing_a_long_prefix_mask_each_whole_and_the_prefix_alone() -> None:
    rng = random.Random(3)
    prefix = _value(rng, 3_000, string.ascii_letters)
    values = [prefix + _value(rng, rng.randint(10, 400), "ABCDEFGH") for _ in range(40)]
    redactor = Redactor(values)
    texts = [f"a {values[7]} b {values[13]}.", f"x {values[0]}{values[1]} y"]
    assert redactor.redact_many(texts) == _reference(texts, values)
    assert texts[0].count(prefix) == 2
    assert redactor.redact_many(texts)[0] == f"a {MASK} b {MASK}."
    # The shared prefix with another ending is a prefix of every one of them: masked.
    assert redactor.redact(f"x {prefix}zzzz-not-a-secret") == f"x {MASK}zzzz-not-a-secret"


def test_a_long_value_cut_short_is_masked_as_far_as_it_goes() -> None:
    value = _value(random.Random(4), 60_000)
    redactor = Redactor([value])
    for cut in (ANCHOR_BYTES + 1, 1_000, 30_000, 59_999):
        assert redactor.redact(f"token={value[:cut]} (truncated)") == f"token={MASK} (truncated)"
        escaped = json.dumps(value)[1 : cut + 1]
        assert redactor.redact(f'{{"v":"{escaped}…') == f'{{"v":"{MASK}…'
    # Cut within its anchor: as before (a long value's forms are not masked piecemeal).
    within = value.encode()[: ANCHOR_BYTES - 1].decode("utf-8", "ignore")
    short_cut = f"token={within}!"
    assert redactor.redact(short_cut) == _reference([short_cut], [value])[0]


def test_short_values_overlapping_long_ones_merge_as_before() -> None:
    rng = random.Random(5)
    long_value = _value(rng, 20_000, string.ascii_letters)
    inside, across = long_value[5_000:5_030], long_value[-12:] + "QQQQ"
    values = [long_value, inside, across, long_value[:30]]
    redactor = Redactor(values)
    texts = [
        f"x {long_value}QQQQ y",
        f"x {inside} {across} {long_value[:30]}{long_value[-30:]} y",
        f"{long_value}{long_value}",
        f"{long_value[:100]}{inside}",
    ]
    out = redactor.redact_many(texts)
    assert out[:3] == _reference(texts[:3], values)
    assert out[0] == f"x {MASK} y"
    assert out[1].endswith(f"{MASK}{long_value[-30:]} y")  # 30 characters of a value: kept
    assert out[3] == MASK + MASK  # a prefix of the value, then a value: adjacent, as always


def test_wrapped_base64_of_a_long_value_leaves_no_line_visible() -> None:
    value = _value(random.Random(6), 20_000)
    redactor = Redactor([value])
    encoded = base64.b64encode(value.encode()).decode()
    for width in (64, 76):
        lines = textwrap.wrap(encoded, width)
        indented = "key: |\n    " + "\n    ".join(lines)
        assert redactor.redact(indented) == _reference([indented], [value])[0]
        assert all(line not in redactor.redact(indented) for line in lines)
        bare = redactor.redact("\n".join(lines[: len(lines) // 2]))  # cut: half the lines
        assert set(bare.replace(MASK, "")) <= {"\n"}


def test_a_repetitive_long_value_against_a_huge_run_is_masked_in_bounded_work() -> None:
    redactor = Redactor(["x" * 60_000])
    texts = ["x" * 300_000, "xxxx not", ("x" * 59_999 + "y") * 5]
    start = time.process_time()
    out = redactor.redact_many(texts)
    print(f"{time.process_time() - start:.2f} CPU s")  # a figure for the report, not asserted
    assert out[0] == MASK
    assert out[1] == "xxxx not"  # nothing spills over from the text before
    assert "x" not in out[2].replace(MASK, "")  # the cut runs: prefixes of the value


def test_the_automata_hold_bounded_anchors_not_megabytes_of_long_values() -> None:
    rng = random.Random(7)
    values = [_value(rng, 60_000, string.ascii_letters + string.digits) for _ in range(40)]
    encodings, lines = split_forms(values, min_length=4)
    start = time.process_time()
    redactor = Redactor(values)
    print(f"build {time.process_time() - start:.2f} CPU s")  # reported, not asserted
    assert redactor.pattern_bytes > 25_000_000  # what went into the automaton before
    bound = len(encodings) * ANCHOR_BYTES + len(lines) * LINE_ANCHOR_BYTES
    assert redactor.automaton_pattern_bytes <= bound < 1_000_000
    assert redactor.automaton_pattern_count <= len(encodings) + len(lines)
    assert redactor.redact(f"a {values[39]} b") == f"a {MASK} b"


# --- the escapers as str.translate tables, against their per-character definitions ------


def _go_quote(value: str) -> str:
    out = []
    for ch in value:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in "\n\t\r":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    return "".join(out)


def _go_json(value: str) -> str:
    table = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    table |= {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}
    out = []
    for ch in value:
        code = ord(ch)
        if ch in table:
            out.append(table[ch])
        elif code < 0x20 or code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _js(value: str) -> str:
    table = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E"}
    table |= {"&": "\\u0026", "=": "\\u003D"}
    out = []
    for ch in value:
        code = ord(ch)
        if ch in table:
            out.append(table[ch])
        elif code < 0x20:
            out.append(f"\\u{code:04X}")
        elif code >= 0x80 and not ch.isprintable():
            out.append(f"\\u{0xFFFD if 0xD800 <= code <= 0xDFFF else code:04X}")
        else:
            out.append(ch)
    return "".join(out)


def test_escapers_match_their_definitions_on_every_code_point() -> None:
    every = "".join(chr(c) for c in range(0x110000))
    assert forms_module._go_quote_body(every) == _go_quote(every)
    assert forms_module._go_json_body(every) == _go_json(every)
    assert forms_module._js_escape(every) == _js(every)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=()), max_size=60))
def test_escapers_match_their_definitions(value: str) -> None:
    assert forms_module._go_quote_body(value) == _go_quote(value)
    assert forms_module._go_json_body(value) == _go_json(value)
    assert forms_module._js_escape(value) == _js(value)


def test_values_of_many_lines_are_built_as_automata_of_bounded_size() -> None:
    rng = random.Random(9)
    alphabet = string.ascii_letters + "<&'%"
    values = ["\n".join(_value(rng, 8, alphabet) for _ in range(7_000)) for _ in range(6)]
    redactor = Redactor(values)
    assert redactor.automaton_pattern_bytes > AUTOMATON_MAX_BYTES  # one automaton before
    assert redactor.layers >= 2
    assert all(
        sum(len(p) for p in layer) <= AUTOMATON_MAX_BYTES for layer in redactor.automaton_patterns()
    )
    lines = [line for value in values for line in value.splitlines()[::84]]  # 500 lines
    shown = [f"a {line} b" for line in lines] + [f"a {line.encode().hex()} b" for line in lines]
    assert redactor.redact_many(shown) == [f"a {MASK} b"] * len(shown)
