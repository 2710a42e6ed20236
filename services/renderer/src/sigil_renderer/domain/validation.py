"""Dry-run validation: Go parse/exec errors, references, missing keys, structure safety."""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import yaml

from sigil_renderer.domain.masking import mask_values
from sigil_renderer.engine import (
    CompiledTemplate,
    TemplateError,
    TemplateExecError,
    TemplateParseError,
    parse,
)
from sigil_shared.contracts import TemplateFile, TemplateIssue

MAX_MISSING_PASSES = 64


@dataclass
class FileResult:
    """Outcome for one file."""

    issues: list[TemplateIssue] = field(default_factory=list)
    references: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    output: str | None = None


def _issue(file: TemplateFile, err: TemplateError, values: Mapping[str, str]) -> TemplateIssue:
    return TemplateIssue(
        file=file,
        phase=err.phase,
        line=err.line,
        column=err.column,
        key=err.key,
        message=mask_values(str(err), values.values()),
    )


def placeholders(keys: set[str]) -> dict[str, str]:
    """Neutral stand-ins: plain words that change no YAML or env structure."""
    return {key: f"sigilplaceholder{i:04d}" for i, key in enumerate(sorted(keys))}


def render_collecting_missing(
    file: TemplateFile, template: CompiledTemplate, secrets: Mapping[str, str]
) -> FileResult:
    """Execute; each missing secret is reported (with Go's message) and execution goes on."""
    result = FileResult(references=set(template.secret_keys))
    stand_ins: dict[str, str] = {}
    for _ in range(MAX_MISSING_PASSES):
        try:
            result.output = template.render({**secrets, **stand_ins})
            return result
        except TemplateExecError as err:
            result.issues.append(_issue(file, err, secrets))
            if err.key is None or err.key in stand_ins or err.key in secrets:
                return result
            result.missing.add(err.key)
            stand_ins[err.key] = f"sigilmissing{len(stand_ins):04d}"
    return result


_PLAIN_SCALAR = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./+=-]*")


def cannot_change_structure(file: TemplateFile, values: list[str]) -> bool:
    """Values that cannot alter the document: no newline (env); plain words (YAML)."""
    if file == "envFile":
        return not any("\n" in v or "\r" in v for v in values)
    return all(_PLAIN_SCALAR.fullmatch(v) for v in values)


def _shape(document: object) -> object:
    """Containers with their keys and lengths; scalars reduced to a marker."""
    if isinstance(document, dict):
        return {str(k): _shape(v) for k, v in document.items()}
    if isinstance(document, list):
        return [_shape(v) for v in document]
    return "scalar"


def _yaml_shape(text: str) -> object:
    try:
        return _shape(yaml.safe_load(text))
    except yaml.YAMLError:
        return "invalid"


def _env_shape(text: str) -> object:
    return len(text.splitlines())


def structure_issues(
    file: TemplateFile,
    template: CompiledTemplate,
    secrets: Mapping[str, str],
    *,
    used: set[str],
    rendered: str,
) -> list[TemplateIssue]:
    """Secrets whose values change the document's structure, each named with the fix."""
    keys = {k for k in used if k in secrets}
    if not keys or cannot_change_structure(file, [secrets[k] for k in keys]):
        return []
    neutral = placeholders(set(secrets))
    shape = _yaml_shape if file == "valuesYaml" else _env_shape
    try:
        expected = shape(template.render({**secrets, **neutral}))
        actual = shape(rendered)
    except TemplateError:
        return []
    if expected == actual:
        return []
    issues = []
    what = (
        "YAML structure of the Helm values"
        if file == "valuesYaml"
        else ("env file's one KEY=value per line")
    )
    for key in sorted(keys):
        alone = {**secrets, **neutral, key: secrets[key]}
        try:
            changed = shape(template.render(alone)) != expected
        except TemplateError:
            continue
        if changed:
            issues.append(
                TemplateIssue(
                    file=file,
                    phase="structure",
                    key=key,
                    message=(
                        f"secret {key} breaks the {what} (its value contains a newline or "
                        f'YAML syntax); quote it: {{{{ .Secrets.{key} | printf "%q" }}}}'
                    ),
                )
            )
    return issues


def validate_file(
    file: TemplateFile,
    text: str,
    secrets: Mapping[str, str],
    *,
    compile_template: Callable[[str, str], CompiledTemplate] = parse,
) -> FileResult:
    """Parse, execute and structure-check one file."""
    try:
        template = compile_template(text, file)
    except TemplateParseError as err:
        return FileResult(issues=[_issue(file, err, secrets)])
    result = render_collecting_missing(file, template, secrets)
    if not result.issues and result.output is not None:
        result.issues.extend(
            structure_issues(
                file, template, secrets, used=result.references, rendered=result.output
            )
        )
    return result
