"""Red-team finding N2: validation of a 1 MiB template of ~1,000 references to missing long
keys is linear — line/column from a per-text index, stand-ins found without compiling an
alternation of them — and its answers stay exactly Go's."""

import random
import re
import time

import pytest

from bench.oversized_validate_bench import template as big_template
from sigil_renderer.domain import roundtrip
from sigil_renderer.domain.validation import (
    VALIDATE_MAX_ERRORS,
    VALIDATE_MAX_NAMES,
    bounded_validate_reply,
    validate_blind,
)
from sigil_renderer.engine import parse
from sigil_renderer.template.lexer import _quote_rune, go_quote
from sigil_renderer.template.parser import TextIndex
from sigil_shared.contracts import (
    Actor,
    Role,
    TemplateIssue,
    TemplateValidateReply,
    TemplateValidateRequest,
)


def _naive_location(text: str, pos: int) -> tuple[int, int]:
    """What the executor computed before: slice, count, encode."""
    before = text[:pos]
    last = before.rfind("\n")
    return before.count("\n") + 1, len(before[last + 1 :].encode("utf-8", "surrogateescape"))


@pytest.mark.parametrize("seed", range(8))
def test_text_index_matches_the_naive_location(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = ["a", "\n", "é", "日", "😀", "\udc80", " ", "{"]
    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 3 * 4096 + 17)))
    index = TextIndex(text)
    positions = {0, len(text), *(rng.randint(0, len(text)) for _ in range(300))}
    positions |= {p for p in (4095, 4096, 4097, 8192) if p <= len(text)}
    for pos in sorted(positions):
        assert index.location(pos) == _naive_location(text, pos), pos


def test_missing_key_errors_carry_go_line_and_byte_column() -> None:
    text = "é日\nA={{ .Secrets.NOPE }}\n" + "x" * 5000 + "é{{ .Secrets.GONE }}"
    compiled = parse(text, "envFile")
    errors = [compiled.missing_key_error(site) for site in compiled.reference_sites]
    assert [str(e) for e in errors] == [
        'template execution error: template: envFile:2:13: executing "envFile" at '
        '<.Secrets.NOPE>: map has no entry for key "NOPE"',
        'template execution error: template: envFile:3:5013: executing "envFile" at '
        '<.Secrets.GONE>: map has no entry for key "GONE"',
    ]


def test_go_quote_fast_path_is_strconv_quote() -> None:
    for code in [*range(0x100), 0x2028, 0xDC80, 0xD800, 0x1F600]:
        ch = chr(code)
        slow = '"' + _quote_rune(ch, '"', ascii_only=False) + '"'
        assert go_quote(ch) == slow, hex(code)
    assert go_quote('plain ascii "quoted" \\ ~') == '"plain ascii \\"quoted\\" \\\\ ~"'


def _alternation_findall(stand_ins: list[str], text: str) -> list[str]:
    pattern = re.compile("|".join(re.escape(s) for s in sorted(stand_ins, key=len, reverse=True)))
    return pattern.findall(text)


@pytest.mark.parametrize("seed", range(20))
def test_stand_in_finder_finds_what_the_alternation_found(seed: int) -> None:
    rng = random.Random(seed)
    keys = ["A", "AB", "ABC", "sigil", "B_1", "x", "K" * 300]
    plain = [roundtrip.stand_in(k) for k in rng.sample(keys, rng.randint(1, len(keys)))]
    variants = [
        plain,
        [s + roundtrip.PROBE_SUFFIX for s in plain],
        [roundtrip.stand_in(roundtrip._key_of(s), len(s) + 3) for s in plain],
        [*plain, roundtrip.stand_in("a-b")],  # a name with "-": the compiled fallback
    ]
    pieces = [*plain, *variants[1], *variants[2], "sigil-stand-in-", "-", "x", "AB", " ", '"']
    for stand_ins in variants:
        text = "".join(rng.choice(pieces) for _ in range(60))
        finder = roundtrip._StandInFinder(stand_ins)
        assert finder.findall(text) == _alternation_findall(stand_ins, text)
        marked = finder.sub(lambda s: f"<{len(s)}>", text)
        assert marked == re.sub(
            "|".join(re.escape(s) for s in sorted(stand_ins, key=len, reverse=True)),
            lambda m: f"<{len(m[0])}>",
            text,
        )


def test_a_name_that_cannot_be_a_key_is_missing_but_not_linted() -> None:
    text = 'A={{ index .Secrets "a-b" }}\nB={{ .Secrets.K }}\n'
    result = validate_blind("envFile", text, frozenset({"K"}))
    assert result.missing == {"a-b"}
    assert result.references == {"a-b", "K"}
    assert all(issue.key != "a-b" or issue.phase == "exec" for issue in result.issues)


def test_one_mebibyte_of_missing_long_keys_validates_in_linear_time() -> None:
    """990 references to missing 1,000-character keys in 1 MiB: 3.5 s of CPU before (an
    alternation of the stand-ins compiled twice, the text sliced per error), ~0.3 s now."""
    text = big_template(990)
    assert len(text.encode()) <= 1024 * 1024
    re.purge()
    start = time.process_time()
    result = validate_blind("envFile", text, frozenset())
    spent = time.process_time() - start
    assert len(result.missing) == 990
    assert len(result.issues) == 990
    assert result.issues[-1].line == 990
    assert spent < 1.5, f"validation took {spent:.2f}s of CPU"


# -- the answer is bounded (finding N2, part 2) -------------------------------------------------

ONE_MIB = 1024 * 1024


def _request_for(text: str) -> TemplateValidateRequest:
    actor = Actor(user_id="u1", organization_id="acme", role=Role.READ_ONLY)
    return TemplateValidateRequest(actor=actor, request_id="r1", env_file=text)


async def test_validate_answer_for_990_missing_long_keys_fits_one_message() -> None:
    from tests.unit.renderer.test_render_service import FakeAudit, FakeSecrets
    from tests.unit.renderer.test_validate_service import _service

    secrets = FakeSecrets()
    secrets.put("K000001" + "X" * 993, "canary-Unit-N2-value")  # one of them exists
    reply = await _service(secrets, FakeAudit()).validate(_request_for(big_template(990)))
    wire = reply.model_dump_json()
    assert len(wire.encode()) < ONE_MIB
    assert "canary" not in wire
    assert not reply.valid
    assert len(reply.errors) == VALIDATE_MAX_ERRORS
    assert reply.errors_omitted == 989 - VALIDATE_MAX_ERRORS
    assert reply.errors[0].line == 1  # the first errors, in text order
    assert len(reply.references) + reply.references_omitted == 990
    assert len(reply.missing) + reply.missing_omitted == 989
    assert reply.missing == sorted(reply.missing)
    # The same answer read back (as the gateway does) keeps the counts.
    assert TemplateValidateReply.model_validate_json(wire) == reply


async def test_one_reference_to_a_huge_name_is_counted_not_listed() -> None:
    """A name nearly 1 MiB long: its error alone would be over 2 MiB."""
    from tests.unit.renderer.test_render_service import FakeAudit, FakeSecrets
    from tests.unit.renderer.test_validate_service import _service

    text = "A={{ .Secrets.N" + "x" * (ONE_MIB - 64) + " }}\n"
    reply = await _service(FakeSecrets(), FakeAudit()).validate(_request_for(text))
    assert len(reply.model_dump_json().encode()) < 64 * 1024
    assert not reply.valid
    assert (reply.errors, reply.errors_omitted) == ([], 1)
    assert (reply.references, reply.references_omitted) == ([], 1)
    assert (reply.missing, reply.missing_omitted) == ([], 1)


# -- validate answers are bounded (red-team N2) -------------------------------------------------


def _issue(n: int, message: str = "template execution error: x") -> TemplateIssue:
    return TemplateIssue.model_validate(
        {"file": "envFile", "phase": "exec", "line": n, "key": f"K{n}", "message": message}
    )


def test_validate_reply_lists_the_first_errors_and_counts_the_rest() -> None:
    names = [f"K{n:05d}" for n in range(VALIDATE_MAX_NAMES + 5)]
    reply = bounded_validate_reply(
        errors=[_issue(n) for n in range(250)],
        references=names,
        missing=names[:10],
    )
    assert [e.line for e in reply.errors] == list(range(VALIDATE_MAX_ERRORS))
    assert reply.errors_omitted == 250 - VALIDATE_MAX_ERRORS
    assert reply.references == names[:VALIDATE_MAX_NAMES]
    assert reply.references_omitted == 5
    assert (reply.missing, reply.missing_omitted) == (names[:10], 0)
    wire = reply.model_dump_json()
    assert '"errorsOmitted":150' in wire
    assert '"referencesOmitted":5' in wire
    assert TemplateValidateReply.model_validate_json(wire) == reply  # idempotent


def test_validate_reply_is_bounded_in_bytes_too() -> None:
    big = "x" * (300 * 1024)
    reply = bounded_validate_reply(
        errors=[_issue(1, big), _issue(2, big), _issue(3, "small")],
        references=["A" * (100 * 1024), "B" * (100 * 1024), "C"],
        missing=["\x00" * (40 * 1024)],  # 6 bytes each as JSON
    )
    # A prefix only: the small third error is not listed after one that did not fit.
    assert ([e.line for e in reply.errors], reply.errors_omitted) == ([1], 2)
    assert (len(reply.references), reply.references_omitted) == (1, 2)
    assert (reply.missing, reply.missing_omitted) == ([], 1)
    assert len(reply.model_dump_json().encode()) < 1024 * 1024


def test_a_bounded_reply_within_the_limits_is_unchanged() -> None:
    reply = bounded_validate_reply(errors=[], references=["A"], missing=[])
    assert reply.model_dump(by_alias=True) == {
        "valid": True,
        "errors": [],
        "references": ["A"],
        "missing": [],
        "errorsOmitted": 0,
        "referencesOmitted": 0,
        "missingOmitted": 0,
    }
