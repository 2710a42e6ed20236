"""The template API, Sigil's documented deviation, newer Go syntax and hostile templates."""

import time

import pytest

from sigil_renderer import TemplateExecError, TemplateParseError, parse, render
from sigil_renderer.template.executor import Limits

SECRETS = {"API_URL": "https://api", "DB_PASSWORD": "pw", "NUM": "42"}


def test_reference_page_examples() -> None:
    assert (
        render("DATABASE_URL=postgresql://user:{{ .Secrets.DB_PASSWORD }}@host:5432/db", SECRETS)
        == "DATABASE_URL=postgresql://user:pw@host:5432/db"
    )
    conditional = (
        "API_URL={{ if .Secrets.API_URL }}{{ .Secrets.API_URL }}{{ else }}"
        "https://api.example.com{{ end }}"
    )
    assert render(conditional, SECRETS) == "API_URL=https://api"
    assert render(conditional, {}) == "API_URL=https://api.example.com"


def test_exec_error_carries_structured_fields() -> None:
    with pytest.raises(TemplateExecError) as info:
        render("A=1\nB={{ .Secrets.SECRET_NAME }}", {}, "envFile")
    err = info.value
    assert str(err) == (
        'template execution error: template: envFile:2:13: executing "envFile" at '
        '<.Secrets.SECRET_NAME>: map has no entry for key "SECRET_NAME"'
    )
    assert (err.phase, err.line, err.column, err.key) == ("exec", 2, 13, "SECRET_NAME")


def test_parse_error_carries_structured_fields() -> None:
    with pytest.raises(TemplateParseError) as info:
        render("a\nb\nc={{ .Secrets.X }", {}, "envFile")
    err = info.value
    assert str(err) == 'template parsing error: template: envFile:3: unexpected "}" in operand'
    assert (err.phase, err.line, err.column, err.key) == ("parse", 3, None, None)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ if .Secrets.NOPE }}y{{ else }}n{{ end }}", "n"),
        ("{{ if .Secrets.NOPE }}a{{ else if .Secrets.ALSO_NOPE }}b{{ else }}c{{ end }}", "c"),
        ("{{ if .Secrets.NOPE }}a{{ else if .Secrets.NUM }}{{ .Secrets.NUM }}{{ end }}", "42"),
        ("{{ with .Secrets.NOPE }}{{ . }}{{ else }}none{{ end }}", "none"),
        ("{{ with .Secrets.NOPE }}a{{ else with .Secrets.NUM }}[{{ . }}]{{ end }}", "[42]"),
        ("{{ with .Secrets.NOPE }}a{{ else with .Secrets.NOPE2 }}b{{ else }}c{{ end }}", "c"),
        ("{{ if $.Secrets.NOPE }}y{{ else }}n{{ end }}", "n"),
        ('{{ index .Secrets "NOPE" }}|', "|"),
    ],
)
def test_missing_secret_as_whole_condition_is_false(template: str, expected: str) -> None:
    assert render(template, SECRETS) == expected


@pytest.mark.parametrize(
    "template",
    [
        "{{ .Secrets.NOPE }}",
        "{{ if and .Secrets.NOPE true }}y{{ end }}",
        "{{ if or .Secrets.NOPE true }}y{{ end }}",
        '{{ if eq .Secrets.NOPE "x" }}y{{ end }}',
        "{{ if not .Secrets.NOPE }}y{{ end }}",
        "{{ if $x := .Secrets.NOPE }}y{{ end }}",
        "{{ if .Secrets.NOPE | len }}y{{ end }}",
        "{{ range .Secrets.NOPE }}y{{ end }}",
    ],
)
def test_missing_secret_anywhere_else_is_gos_error(template: str) -> None:
    with pytest.raises(TemplateExecError) as info:
        render(template, SECRETS)
    assert info.value.key == "NOPE"
    assert 'map has no entry for key "NOPE"' in info.value.go_message


def test_range_over_an_integer_like_go_1_22() -> None:
    assert render("{{ range 3 }}{{ . }},{{ end }}", {}) == "0,1,2,"
    assert render("{{ range $i := 2 }}[{{ $i }}]{{ end }}", {}) == "[0][1]"
    assert render("{{ range 0 }}x{{ else }}empty{{ end }}", {}) == "empty"
    with pytest.raises(TemplateExecError, match="can't use 2 to iterate over more than one"):
        render("{{ range $i, $j := 2 }}{{ end }}", {})


def test_parse_once_render_many() -> None:
    compiled = parse("{{ .Secrets.A }}-{{ .Secrets.B }}", "t")
    assert compiled.render({"A": "1", "B": "2"}) == "1-2"
    assert compiled.render({"A": "x", "B": "y"}) == "x-y"


def test_template_size_limit() -> None:
    with pytest.raises(TemplateParseError, match="larger than 1 MiB"):
        parse("x" * (1024 * 1024 + 1))


def test_output_size_limit() -> None:
    with pytest.raises(TemplateExecError, match="output larger than 8 MiB"):
        render('{{ range 100000000 }}{{ printf "%4096s" "x" }}{{ end }}', {})


def test_render_time_limit() -> None:
    start = time.monotonic()
    with pytest.raises(TemplateExecError, match=r"rendering took longer than 0\.2s"):
        parse("{{ range 1000000000 }}{{ end }}").render({}, limits=Limits(timeout=0.2))
    assert time.monotonic() - start < 5


def test_template_recursion_is_bounded() -> None:
    with pytest.raises(TemplateExecError, match=r"exceeded maximum template depth \(50\)"):
        render('{{ define "t" }}{{ template "t" }}{{ end }}{{ template "t" }}', {})


@pytest.mark.parametrize(
    "template",
    [
        "{{" + "(" * 5000 + "1" + ")" * 5000 + "}}",
        "{{ if true }}" * 3000 + "{{ end }}" * 3000,
        "{{ with 1 }}" * 400 + "x" + "{{ end }}" * 400,
    ],
)
def test_deep_nesting_is_an_error_not_a_crash(template: str) -> None:
    with pytest.raises((TemplateParseError, TemplateExecError)) as info:
        render(template, {})
    assert "nesting" in info.value.go_message or "too deep" in info.value.go_message


def test_invalid_utf8_and_lone_surrogates_do_not_crash() -> None:
    broken = b"A={{ .Secrets.X }}\xff\xfe".decode("utf-8", "replace")
    assert render(broken, {"X": "1"}) == "A=1\ufffd\ufffd"
    assert render("{{ .Secrets.X }}\ud800", {"X": "v"}).startswith("v")


_PRINT_CASES = [
    "A={{ .Secrets.API_URL }}\nB={{.Secrets.DB_PASSWORD}}\n",
    "{{ with .Secrets }}{{ .API_URL }}{{ end }}{{ .Secrets.NUM }}",
    "{{ range $k, $v := .Secrets }}{{ $k }}={{ $v }};{{ end }}{{ .Secrets.NUM }}",
    "{{ $x := .Secrets.API_URL }}{{ .Secrets.API_URL }}{{ $x }}",
    '{{ .Secrets.API_URL | printf "%q" }}{{ .Secrets.API_URL }}',
    "{{ if .Secrets.NOPE }}x{{ end }}{{ .Secrets.API_URL }}",
    "ok={{ .Secrets.API_URL }}\nbad={{ .Secrets.MISSING }}",
    "{{ .Secrets.API_URL.More }}",
    "{{ .Secrets }}",
    "{{ .Other.API_URL }}",
]


def _general_path_only(compiled: object) -> None:
    """Turn the executor's ``{{ .Secrets.KEY }}`` shortcut off for every action node."""
    from sigil_renderer.template import nodes as n

    def visit(node: object) -> None:
        if isinstance(node, n.ActionNode):
            node.__dict__["printed_secret"] = None
        for value in getattr(node, "__dict__", {}).values():
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, n.Node):
                    visit(child)

    for tree in compiled.trees.values():  # type: ignore[attr-defined]
        visit(tree.root)


@pytest.mark.parametrize("text", _PRINT_CASES)
def test_the_plain_print_shortcut_answers_as_the_general_path(text: str) -> None:
    """Output and error text are the same with and without the executor's shortcut for
    ``{{ .Secrets.KEY }}`` (the Go corpus checks the general path against Go itself)."""

    def outcome(shortcut: bool) -> str:
        compiled = parse(text, "envFile")
        if not shortcut:
            _general_path_only(compiled)
        try:
            return "ok:" + compiled.render(SECRETS)
        except TemplateExecError as err:
            return f"error:{err}:{err.line}:{err.column}:{err.key}"

    assert outcome(shortcut=True) == outcome(shortcut=False)
