"""Render-time errors never carry a secret value in any form (literal, slice, hex, split, ...).

Go's error text quotes operands, and an operand can be any transform of a value; the render
reply's text comes from the same branches replayed on stand-ins, or is a fixed message.
"""

import base64
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sigil_renderer.domain.validation import validate_blind, validate_file
from sigil_renderer.errors import TemplateRejectedError
from sigil_renderer.service import RendererService
from sigil_shared.contracts import TemplateIssue, TemplateRenderRequest
from tests.unit.renderer.test_render_service import ORG, Harness

#: Two canaries of different lengths and bytes: a message that is a function of the text and
#: the keys only must be the same for both.
CANARY = "Zr8q-W0lf-canary-K3y7"
OTHER = "Pm2x_Hawk.pigeon#Vb5Jx9-long"


def _derived_forms(value: str) -> set[str]:
    """What must not appear: every 4-character piece, and hex/base64 of any 4+ bytes, plus
    the first bytes as decimals (``print (index .Secrets.K 0) ...``)."""
    raw = value.encode()
    forms = {value[i : i + 4] for i in range(len(value) - 3)}
    for i in range(len(raw) - 3):
        piece = raw[i : i + 4]
        forms |= {piece.hex(), piece.hex().upper()}
    for i in range(len(raw) - 5):
        forms.add(base64.b64encode(raw[i : i + 6]).decode())
        forms.add(base64.urlsafe_b64encode(raw[i : i + 6]).decode())
    forms.add(" ".join(str(b) for b in raw[:3]))
    return forms


def assert_value_free(text: str, value: str = CANARY) -> None:
    found = sorted(f for f in _derived_forms(value) if f in text)
    assert not found, f"value-derived text {found} in {text!r}"


def _issues(template: str, value: str, file: str = "envFile") -> list[TemplateIssue]:
    result = validate_file(file, template, {"K": value, "B": "b"})  # type: ignore[arg-type]
    assert result.issues, "the template must fail at render time"
    return result.issues


#: Templates whose execution fails with Go text that would quote a value or its transform.
FAILING = [
    # The red team's three repros.
    "{{ range (slice .Secrets.K 0 9) }}{{ end }}",
    '{{ range (printf "%x" .Secrets.K) }}{{ end }}',
    '{{ range (printf "%.3s|%s" .Secrets.K (slice .Secrets.K 3)) }}{{ end }}',
    # Other transforms.
    "{{ range .Secrets.K }}{{ end }}",
    "{{ range (slice .Secrets.K 4) }}{{ end }}",
    '{{ range (printf "%X" .Secrets.K) }}{{ end }}',
    '{{ range (printf "%q" .Secrets.K) }}{{ end }}',
    '{{ range (printf "%v" .Secrets.K) }}{{ end }}',
    '{{ range (printf "%.3s" (slice .Secrets.K 5)) }}{{ end }}',
    '{{ range (printf "%s-%s" (slice .Secrets.K 0 4) (slice .Secrets.K 8 12)) }}{{ end }}',
    "{{ range (print (index .Secrets.K 0) (index .Secrets.K 1) (index .Secrets.K 2)) }}{{ end }}",
    "{{ range (index .Secrets.K 3) 2 }}{{ end }}",
    "{{ index .Secrets.K (len .Secrets.K) }}",
    "{{ range (print (len .Secrets.K) .Secrets.K) }}{{ end }}",
    "{{ range (html .Secrets.K) }}{{ end }}",
    "{{ range (js .Secrets.K) }}{{ end }}",
    "{{ range (urlquery .Secrets.K) }}{{ end }}",
    "{{ range (println .Secrets.K) }}{{ end }}",
    "{{ call .Secrets.K }}",
    "{{ call (slice .Secrets.K 1) }}",
    "{{ $v := slice .Secrets.K 2 }}{{ range $v }}{{ end }}",
    "{{ range . }}{{ end }}",
    "{{ eq .Secrets .Secrets }}",
    "{{ range .Secrets }}{{ range . }}{{ end }}{{ end }}",
    "{{ with slice .Secrets.K 0 6 }}{{ range . }}{{ end }}{{ end }}",
]
#: A value shorter than its stand-in (``sigil-stand-in-K-``, 17 characters), and templates
#: that fail only with it: no replay fails at the same place, so the fixed message is given.
SHORT = "Sh0rt-c4nArY"
FAILING_WITH_THE_VALUE_ONLY = [
    "{{ index .Secrets.K 13 }}",
    "{{ slice .Secrets.K 0 14 }}",
    "{{ range (slice .Secrets.K 0 15) }}{{ end }}",
    "A={{ .Secrets.B }}\nB={{ range (slice .Secrets.K 0 16) }}{{ end }}",
]


@pytest.mark.parametrize("template", FAILING)
def test_render_error_text_carries_no_form_of_the_value(template: str) -> None:
    issues = _issues(template, CANARY)
    for issue in issues:
        assert_value_free(issue.model_dump_json(), CANARY)
    # The text is a function of the template and the keys: another value, same errors.
    assert _issues(template, OTHER) == issues


@pytest.mark.parametrize("template", FAILING_WITH_THE_VALUE_ONLY)
def test_fixed_message_carries_no_form_of_the_value(template: str) -> None:
    (issue,) = _issues(template, SHORT)
    assert_value_free(issue.model_dump_json(), SHORT)
    assert "Go's message is withheld" in issue.message
    assert issue.key == "K"


def test_replayed_text_is_gos_message_on_stand_ins() -> None:
    (issue,) = _issues("{{ range (slice .Secrets.K 0 9) }}{{ end }}", CANARY)
    assert issue.message == (
        'template execution error: template: envFile:1:29: executing "envFile" at <9>: '
        "range can't iterate over sigil-sta"
    )
    assert (issue.phase, issue.line, issue.column, issue.key) == ("exec", 1, 29, "K")
    # Exactly what validation (value-blind) says for the same template.
    blind = validate_blind(
        "envFile", "{{ range (slice .Secrets.K 0 9) }}{{ end }}", frozenset({"K"})
    )
    assert [i.message for i in blind.issues] == [issue.message]


def test_len_in_a_message_is_the_stand_ins_length() -> None:
    (issue,) = _issues('{{ range (print "n=" (len .Secrets.K)) }}{{ end }}', CANARY)
    assert issue.message.endswith("range can't iterate over n=17")


def test_failure_only_the_value_causes_gets_a_fixed_message_naming_place_and_key() -> None:
    template = "A={{ .Secrets.B }}\nB={{ range (slice .Secrets.K 0 16) }}{{ end }}"
    (issue,) = _issues(template, SHORT)
    assert (issue.file, issue.phase, issue.line, issue.column, issue.key) == (
        "envFile",
        "exec",
        2,
        12,
        "K",
    )
    assert issue.message.startswith(
        "template execution error: template: envFile:2:12: execution fails here with the "
        "value of secret K; Go's message is withheld"
    )
    # Two keys in the failing action: both named, no single key claimed.
    (both,) = _issues("{{ eq (index .Secrets.K 13) .Secrets.B }}", SHORT)
    assert "the values of secrets B, K" in both.message
    assert both.key is None


def test_a_missing_key_still_gets_gos_text_and_its_key() -> None:
    (issue,) = _issues("{{ .Secrets.NOPE }}{{ .Secrets.K }}", CANARY)
    assert (issue.line, issue.column, issue.key) == (1, 11, "NOPE")
    assert issue.message.endswith('map has no entry for key "NOPE"')


def test_limit_errors_keep_their_fixed_text() -> None:
    result = validate_file("envFile", "{{ range 100000000 }}x{{ end }}", {"K": CANARY})
    (issue,) = result.issues
    assert "output larger than 8 MiB" in issue.message or "took longer" in issue.message


def test_range_over_secrets_printing_values_never_shows_a_readers_message() -> None:
    # Values printed without being named are checked like named ones: the finding names
    # the key, and YAML's own message (which may quote the output) is not shown.
    template = "{{ if false }}{{ .Secrets.K }}{{ end }}a: {{ range .Secrets }}{{ . }}{{ end }}\n"
    result = validate_file("valuesYaml", template, {"K": "!tag!x: [unclosed " + CANARY})
    assert result.issues
    assert {i.key for i in result.issues} == {"K"}
    for issue in result.issues:
        assert_value_free(issue.message)


async def test_render_reply_logs_and_audit_carry_no_form_of_the_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness()
    h.secrets.put("K", CANARY)
    service: RendererService = h.service
    caplog.set_level(logging.DEBUG)
    for n, template in enumerate(FAILING[:3]):
        with pytest.raises(TemplateRejectedError) as info:
            await service.render(
                TemplateRenderRequest(
                    organization_id=ORG,
                    deployment_id="web",
                    revision=n + 1,
                    env_file=template,
                    values_yaml="x: {{ range (slice .Secrets.K 4 12) }}{{ end }}\n",
                )
            )
        err = info.value
        assert_value_free(err.message + repr(err.details) + str(err))
        assert {e["file"] for e in err.details["errors"]} == {"envFile", "valuesYaml"}
    assert [e.outcome for e in h.audit.events] == ["invalid_request"] * 3
    assert_value_free("".join(e.model_dump_json() for e in h.audit.events))
    assert_value_free(caplog.text)
    assert h.receipts.stored == {}


_SPAN_PROBE = """
import asyncio, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
from sigil_shared.contracts import TemplateRenderRequest
from tests.unit.renderer.test_render_service import ORG, Harness

async def main() -> None:
    h = Harness()
    h.secrets.put("K", sys.argv[1])
    for n, template in enumerate(sys.argv[2:]):
        try:
            await h.service.render(TemplateRenderRequest(
                organization_id=ORG, deployment_id="w", revision=n + 1, env_file=template))
        except Exception as err:
            print("raised", type(err).__name__)
    for s in exporter.get_finished_spans():
        print(s.name, dict(s.attributes or {}), s.status.description)
        for event in s.events:
            print(event.name, dict(event.attributes or {}))

asyncio.run(main())
"""


def test_render_spans_carry_no_form_of_the_value() -> None:
    # A child process: the global tracer provider stays out of the other tests.
    probe = subprocess.run(
        [sys.executable, "-c", _SPAN_PROBE, CANARY, *FAILING[:3]],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[3],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])},
        check=True,
    )
    assert probe.stdout.count("raised TemplateRejectedError") == 3
    assert "exception.message" in probe.stdout  # the span recorded the error's text
    assert "can't iterate over" in probe.stdout
    assert_value_free(probe.stdout + probe.stderr)
