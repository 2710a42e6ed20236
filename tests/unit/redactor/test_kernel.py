"""The masking kernel against a slow, obviously correct reference, plus the known holes."""

import base64
import html
import json
import re
from collections.abc import Callable
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigil_redactor import MASK, Redactor
from sigil_redactor.domain.forms import all_forms
from sigil_redactor.domain.kernel import LAYER_DEPTH, suffix_layers
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


# --- Encodings added for issue 12 -------------------------------------------------------

VALUE = "p<a>s&s=w\"o'rd/ é+x y"


def _go_json(value: str) -> str:
    """Go encoding/json's default output, written out by hand (HTML-safe escaping)."""
    table = {'"': '\\"', "\\": "\\\\", "<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}
    return "".join(table.get(ch, ch) for ch in value)


def _encodings_of(value: str) -> dict[str, str]:
    from sigil_renderer.template.builtins import js  # Sigil's own template function

    data = value.encode()
    lower = lambda s: re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), s)  # noqa: E731
    return {
        "go encoding/json": _go_json(value),
        "python quote() defaults": quote(value),
        "go url.PathEscape": quote(value, safe="$&+,:;=@"),
        "js encodeURI": quote(value, safe=";,/?:@&=+$!*'()#"),
        "js encodeURIComponent": quote(value, safe="!*'()"),
        "lower-case hex escapes": lower(quote(value, safe="")),
        "lower-case quote_plus": lower(quote(value, safe="").replace("%20", "+")),
        "sigil js": js(value),
        'printf "%x"': data.hex(),
        'printf "%X"': data.hex().upper(),
    }


@pytest.mark.parametrize("form", list(_encodings_of(VALUE)))
def test_each_added_encoding_is_masked(form: str) -> None:
    encoded = _encodings_of(VALUE)[form]
    assert encoded != VALUE
    out = Redactor([VALUE]).redact(f"before {encoded} after")
    assert out == f"before {MASK} after", form


@pytest.mark.parametrize("offset", [0, 1, 2, 37, 70, 75, 76, 150])
@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_base64_wrapped_at_76_columns_is_masked_across_the_break(offset: int, eol: str) -> None:
    value = "wrapped-secret-value-0123456789"
    blob = base64.encodebytes(b"k" * offset + value.encode() + b"z" * 90).decode()
    blob = blob.replace("\n", eol)
    out = Redactor([value]).redact(f"cert:\n{blob}")
    unwrapped = out.replace(eol, "")
    core = base64.b64encode(b"\0" * (offset % 3) + value.encode()).decode()[4:24]
    assert MASK in out
    assert core not in unwrapped
    assert value not in base64.b64decode(unwrapped.replace(MASK, "") + "==").decode("latin-1")


def test_ordinary_multi_line_text_is_not_joined() -> None:
    # Short lines are not wrapped base64: "abcd\nefgh" never matches "abcdefgh".
    assert Redactor(["abcdefgh"]).redact("abcd\nefgh") == "abcd\nefgh"


def test_redact_many_is_redact_of_each_and_never_matches_across_texts() -> None:
    redactor = Redactor(["secret-value", "abcdef"])
    texts = ["x secret-value", "abc", "def", "secret-", "value", "", "abcdefabcdef", "\ud800"]
    assert redactor.redact_many(texts) == [redactor.redact(t) for t in texts]
    assert redactor.redact_many(["abc", "def"]) == ["abc", "def"]


@settings(max_examples=200, deadline=None)
@given(values_strategy, st.lists(text_strategy, max_size=6))
def test_redact_many_matches_the_reference(values: list[str], texts: list[str]) -> None:
    out = Redactor(values).redact_many(texts)
    assert out == [reference(t, values) for t in texts]


# --- Build cost and scan bounds ---------------------------------------------------------


def test_suffix_layers_bound_the_matches_per_position() -> None:
    family = [b"x" * n for n in range(4, 200)] + [b"secret", b"other"]
    layers = suffix_layers(family)
    assert sorted(p for layer in layers for p in layer) == sorted(set(family))
    for layer in layers:
        nested = sorted(layer, key=len)
        for i, short in enumerate(nested):
            longer = [p for p in nested[i + 1 :] if p.endswith(short)]
            assert len(longer) < LAYER_DEPTH
    # An ordinary set needs one layer.
    assert len(suffix_layers([b"alpha-secret", b"beta-secret", b"secret-gamma"])) == 1


def test_repetitive_64k_values_build_linearly_and_scan_bounded() -> None:
    """The DFA build was quadratic (two 64 KiB values: minutes); the per-test timeout bounds
    this one. Pattern bytes stay a small multiple of the value bytes."""
    values = ["x" * 65536, "ab" * 32768, "\n".join("y" * n for n in range(4, 360))]
    redactor = Redactor(values)
    assert redactor.pattern_bytes < 40 * sum(len(v) for v in values)
    text = "x" * 200_000 + " ab" + "ab" * 40_000
    out = redactor.redact(text)
    assert "x" * 65536 not in out
    assert out.startswith(MASK)
    assert redactor.redact("y" * 50 + " ok") == MASK + " ok"


def test_a_family_of_nested_values_is_masked_in_layers() -> None:
    values = ["z" * n for n in range(4, 120)]
    redactor = Redactor(values)
    assert redactor.layers > 1
    assert redactor.redact("a zzzzz b " + "z" * 300) == f"a {MASK} b {MASK}"


# --- Red-team F2: wrapped base64 whatever separates its lines ---------------------------

#: Every separator of the finding: indentation, a tab, a YAML list marker, a JSON logger's
#: escaped newline, CRLF with indentation; and the bare newline.
SEPARATORS = ["\n  ", "\n    ", "\n\t", "\n- ", "\\n", "\r\n    ", "\n", "\r\n"]


def _wrapped(value: bytes, width: int, separator: str) -> tuple[list[str], str]:
    encoded = base64.b64encode(value).decode()
    lines = [encoded[i : i + width] for i in range(0, len(encoded), width)]
    return lines, separator.join(lines)


@pytest.mark.parametrize("separator", SEPARATORS)
@pytest.mark.parametrize("width", [64, 76])
@pytest.mark.parametrize("size", [49, 100, 337, 2000])
def test_every_line_of_wrapped_base64_is_masked_whatever_the_separator(
    size: int, width: int, separator: str
) -> None:
    value = "".join(chr(33 + (i * 7919) % 94) for i in range(size))
    lines, blob = _wrapped(value.encode(), width, separator)
    out = Redactor([value]).redact(f"key: |\n  {blob}\nend")
    per_line = width * 3 // 4
    tail = size % per_line
    # Every line is masked but a last one holding fewer than 6 bytes (documented); bare
    # line breaks are also read joined, which masks most of that one too.
    visible = [line for line in lines if line in out]
    short_tail = 0 < tail < 6
    bare = separator in ("\n", "\r\n")
    assert visible == ([lines[-1]] if short_tail and not bare else visible if bare else [])
    assert set(visible) <= ({lines[-1]} if short_tail else set())
    assert out.count(MASK) >= (1 if bare else len(lines) - short_tail)
    assert out.startswith("key: |\n  ")
    assert out.endswith("\nend")


def test_the_pem_of_the_finding_is_masked_with_indentation() -> None:
    pem = (
        "-----BEGIN PRIVATE KEY-----\n"
        + "\n".join("".join(chr(65 + (i + j) % 26) for j in range(64)) for i in range(5))
        + "\n-----END PRIVATE KEY-----\n"
    )
    lines, blob = _wrapped(pem.encode(), 64, "\n    ")
    out = Redactor([pem]).redact(f"tls.key: |\n    {blob}")
    assert not [line for line in lines if line in out]


def test_wrapped_line_patterns_keep_random_values_in_one_layer() -> None:
    values = ["".join(chr(33 + (i * k * 31) % 94) for i in range(48 * 57 + k)) for k in range(5)]
    assert Redactor(values).layers == 1


# --- Red-team F3: HTML escaping with either entity for each quote ------------------------


def _cgi_escape_html(value: str) -> str:
    """Ruby ``CGI.escapeHTML``, written out."""
    table = {"'": "&#39;", "&": "&amp;", '"': "&quot;", "<": "&lt;", ">": "&gt;"}
    return "".join(table.get(ch, ch) for ch in value)


def _php_htmlspecialchars(value: str, *, html5: bool = False) -> str:
    """PHP ``htmlspecialchars($v, ENT_QUOTES)`` (``ENT_HTML5``: ``&apos;``), written out."""
    quote = "&apos;" if html5 else "&#039;"
    table = {"&": "&amp;", '"': "&quot;", "'": quote, "<": "&lt;", ">": "&gt;"}
    return "".join(table.get(ch, ch) for ch in value)


@pytest.mark.parametrize("value", ["it's-Canary-Q7", 'say "hi" it\'s-Z8', 'a<b>&c "d" \'e\' "f"'])
@pytest.mark.parametrize(
    "encoder",
    [
        html.escape,
        _cgi_escape_html,
        _php_htmlspecialchars,
        lambda v: _php_htmlspecialchars(v, html5=True),
        lambda v: html.escape(v).replace("&quot;", "&#34;").replace("&#x27;", "&#x27;"),
        lambda v: html.escape(v).replace("&quot;", "&#x22;").replace("&#x27;", "&#39;"),
        lambda v: html.escape(v, quote=False),
    ],
)
def test_html_escaping_with_any_entity_for_each_quote_is_masked(
    value: str, encoder: Callable[[str], str]
) -> None:
    encoded = encoder(value)
    out = Redactor([value]).redact(f"<p>{encoded}</p>")
    assert out == f"<p>{MASK}</p>", encoded


def test_html_forms_are_bounded_per_text() -> None:
    value = "\"'" * 200 + "<&>"
    assert len(all_forms([value], min_length=4)) < 60
