"""Round-trip structure check, hostile YAML and template bounds, value-blind validation."""

import tracemalloc

import pytest

from sigil_renderer.domain.validation import FileResult, validate_blind, validate_file
from sigil_renderer.engine import MAX_ACTIONS, MAX_TOKENS, TemplateParseError, parse
from sigil_shared.contracts import TemplateFile

YAML = "image: good/app:1\npassword: {{ .Secrets.P }}\nport: 80\n"
ENV = "IMAGE=good/app:1\nPASSWORD={{ .Secrets.P }}\nQUOTED='{{ .Secrets.P }}'\n"


def _render(file: TemplateFile, text: str, value: str) -> FileResult:
    result = validate_file(file, text, {"P": value})
    for issue in result.issues:
        assert len(value) < 5 or value not in issue.message  # "null" is a word of the message
        assert all(line not in issue.message for line in value.splitlines() if len(line) >= 5)
    return result


def _structure(result: FileResult) -> list[tuple[str | None, int | None]]:
    return [(i.key, i.line) for i in result.issues if i.phase == "structure"]


@pytest.mark.parametrize(
    "value",
    [
        "pw #comment",  # YAML would cut it at " #"
        "3",  # an integer
        "4.5e3",  # a float to Helm (go-yaml), a string to PyYAML's YAML 1.1
        "0o17",
        "yes",  # a boolean
        "null",
        "~",
        "2001-12-14",  # a timestamp
        "x\nimage: evil/registry:latest",  # a duplicate key
        "a: b",
        "*anchor",  # an alias
        "&anchor x",  # an anchor
        "!!binary aGVsbG8=",  # a tag
        '"quoted"',
        "[1, 2]",
        "- item",
    ],
)
def test_yaml_secret_that_does_not_read_back_is_named_with_line_and_fix(value: str) -> None:
    result = _render("valuesYaml", YAML, value)
    assert result.issues, value
    assert ("P", 2) in _structure(result)
    assert all('printf "%q"' in i.message for i in result.issues)


@pytest.mark.parametrize(
    "value", ["plain-value", "p@ss:w0rd!", "with space", "Zürich✓ 日本", "a#b", "x:y"]
)
def test_yaml_secret_that_reads_back_exactly_renders(value: str) -> None:
    result = _render("valuesYaml", YAML, value)
    assert result.issues == []
    assert result.output is not None
    assert value in result.output


@pytest.mark.parametrize(
    "value",
    [
        "pw #comment",
        "x\nimage: evil/registry:latest",
        "3",
        "yes",
        "multi\nline\n",
        'say "hi" \\ back',
        "tab\there",
        "Zürich✓ \x01 日本",
    ],
)
def test_printf_q_is_the_fix_in_yaml_and_env(value: str) -> None:
    yaml = _render("valuesYaml", 'password: {{ .Secrets.P | printf "%q" }}\n', value)
    assert yaml.issues == []
    env = _render("envFile", 'PASSWORD={{ .Secrets.P | printf "%q" }}\n', value)
    # Compose's double quotes know \n, \t, \" and \\ but not Go's \x01: refused.
    assert (env.issues == []) == ("\x01" not in value)


def test_block_scalar_keeps_multiline_values_when_indented() -> None:
    text = "cert: |\n  {{ .Secrets.P }}\nother: 1\n"
    assert _render("valuesYaml", text, "single-line-cert").issues == []
    assert _structure(_render("valuesYaml", text, "line one\nline two")) != []


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("pw #comment", 2),  # Compose cuts unquoted values at " #"
        ("x\nIMAGE=evil/registry:latest", 2),  # an extra variable
        ("a$HOME", 2),  # interpolated
        ("it's", 3),  # ends the single quotes
    ],
)
def test_env_secret_that_compose_would_read_differently_is_refused(value: str, line: int) -> None:
    assert ("P", line) in _structure(_render("envFile", ENV, value))


def test_env_plain_values_render() -> None:
    result = _render("envFile", ENV, "p@ss:w0rd!")
    assert result.issues == []
    assert result.output == "IMAGE=good/app:1\nPASSWORD=p@ss:w0rd!\nQUOTED='p@ss:w0rd!'\n"


def test_escapers_read_back_as_printed() -> None:
    text = "a: {{ .Secrets.P | html }}\nb: {{ urlquery .Secrets.P }}\nc: x{{ js .Secrets.P }}\n"
    assert _render("valuesYaml", text, "a&b <c> d'e").issues == []


def test_branches_that_depend_on_a_value_are_checked_on_the_same_branch() -> None:
    text = '{{ if eq .Secrets.P "x\\ny: z" }}a: "fine"\n{{ else }}a: {{ .Secrets.P }}\n{{ end }}'
    assert _render("valuesYaml", text, "x\ny: z").issues == []
    assert _structure(_render("valuesYaml", text, "v #c")) == [("P", 1)]


def _alias_bomb() -> str:
    lines = ['a: &a ["{{ .Secrets.V }}", x]']
    prev = "a"
    for name in "bcdefghij":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = name
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_answered_without_expanding_aliases() -> None:
    text = _alias_bomb()
    assert len(text) < 400
    tracemalloc.start()
    try:
        broken = validate_file("valuesYaml", text, {"V": "x\ny"})
        fine = validate_file("valuesYaml", text, {"V": "harmless"})
        blind = validate_blind("valuesYaml", text, frozenset({"V"}))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Expanding the aliases would build 9**9 (387 million) nodes; reading events builds 100.
    assert peak < 8 * 1024 * 1024
    assert [(i.phase, i.key) for i in broken.issues] == [("structure", "V")]
    assert fine.issues == []
    assert [(i.phase, i.key) for i in blind.issues] == [("structure", "V")]


def test_megabyte_of_actions_is_refused_before_lexing() -> None:
    text = "{{ 1 }}" * (1024 * 1024 // 7)
    with pytest.raises(TemplateParseError, match=f"more than {MAX_ACTIONS} actions"):
        parse(text, "valuesYaml")


def test_one_huge_action_is_refused_by_the_token_bound() -> None:
    text = "{{ print " + "1 " * 150_000 + "}}"
    with pytest.raises(TemplateParseError, match=f"more than {MAX_TOKENS} tokens"):
        parse(text, "valuesYaml")


def test_refusals_reach_the_validation_answer() -> None:
    result = validate_blind("envFile", "{{ 1 }}" * (MAX_ACTIONS + 1), frozenset())
    assert [i.phase for i in result.issues] == ["parse"]


# -- value-blind validation ---------------------------------------------------------------


def test_references_and_missing_come_from_every_branch() -> None:
    text = (
        'A={{ if eq (slice .Secrets.K 0 1) "a" }}{{ .Secrets.NOPE }}{{ end }}\n'
        "B={{ if .Secrets.OPT }}{{ .Secrets.OPT }}{{ else }}default{{ end }}\n"
        "C={{ with .Secrets.W }}{{ . }}{{ end }}\n"
        '{{ define "t" }}{{ .Secrets.IN_DEFINE }}{{ end }}'
        'D={{ index .Secrets "BY_INDEX" }}\n'
    )
    result = validate_blind("envFile", text, frozenset({"K"}))
    assert result.references == {"K", "NOPE", "OPT", "W", "IN_DEFINE", "BY_INDEX"}
    assert result.missing == {"NOPE", "IN_DEFINE", "BY_INDEX"}
    errors = [(i.key, i.line, i.column) for i in result.issues if i.phase == "exec"]
    # Go's own message at the site, as if execution had reached it; index yields "".
    assert errors == [("NOPE", 1, 51), ("IN_DEFINE", 4, 27)]
    assert result.output is None


def test_keys_asked_for_through_a_template_call_are_found_at_run_time() -> None:
    text = '{{ template "db" .Secrets }}{{ define "db" }}U={{ .USER }} P={{ .PASS }}{{ end }}'
    result = validate_blind("envFile", text, frozenset({"USER"}))
    assert result.missing == {"PASS"}
    assert "USER" in result.references
    assert [i.key for i in result.issues] == ["PASS"]


def test_answer_is_a_function_of_the_key_set_only() -> None:
    text = (
        'X={{ if lt .Secrets.K "m" }}{{ .Secrets.NOPE }}{{ end }}\n'
        'Y={{ printf "%x" .Secrets.K }}\nZ={{ range .Secrets.K }}{{ end }}\n'
    )
    first = validate_blind("envFile", text, frozenset({"K"}))
    assert validate_blind("envFile", text, frozenset({"K"})) == first
    assert validate_blind("envFile", text, frozenset({"K", "OTHER"})) == first
    assert validate_blind("envFile", text, frozenset()).missing == {"K", "NOPE"}


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        ("!!int", "sk-live-Canary-1234"),  # the red team's case: a string under !!int
        ("!!int", "0x1F"),  # an int, but 31 reads back, not "0x1F"
        ("!!int", "+80"),
        ("!!int", "1_000"),
        ("!!int", ""),
        ("!!float", "1.50"),
        ("!!float", "abc"),
        ("!!bool", "yes"),  # true to YAML 1.1, not the string "yes"
        ("!!bool", "True"),
        ("!!null", "null"),  # a null is never a string
        ("!!binary", "aGk="),
        ("!!timestamp", "2001-12-14"),
        ("!custom", "val-ue9"),
    ],
)
def test_a_tag_written_next_to_a_secret_that_does_not_read_back_is_a_render_error(
    tag: str, value: str
) -> None:
    for text in (f"a: {tag} {{{{ .Secrets.P }}}}\n", f'a: {tag} "{{{{ .Secrets.P }}}}"\n'):
        result = _render("valuesYaml", text, value)
        assert _structure(result) == [("P", 1)], (text, result.issues)
        (issue,) = result.issues
        assert f"under the tag {tag} written next to it" in issue.message
        assert f"remove the tag {tag}" in issue.message


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        ("!!int", "8080"),
        ("!!int", "-3"),
        ("!!int", "0"),
        ("!!float", "1.5"),
        ("!!float", "2"),
        ("!!bool", "true"),
        ("!!bool", "false"),
        ("!!str", "any text: at all #"),
        ("!", "8080"),
    ],
)
def test_a_tag_under_which_the_value_reads_back_as_itself_renders(tag: str, value: str) -> None:
    text = f'a: {tag} "{{{{ .Secrets.P }}}}"\n'
    result = _render("valuesYaml", text, value)
    assert result.issues == []
    assert result.output == f'a: {tag} "{value}"\n'


def test_validation_lints_a_tag_next_to_a_reference_whatever_the_quoting() -> None:
    text = 'a: !!int {{ .Secrets.P | printf "%q" }}\nb: !!str {{ .Secrets.P | printf "%q" }}\n'
    result = validate_blind("valuesYaml", text, frozenset({"P"}))
    assert [(i.key, i.line) for i in result.issues] == [("P", 1)]
    assert "the tag !!int written next to it" in result.issues[0].message
    assert "remove the tag !!int" in result.issues[0].message
