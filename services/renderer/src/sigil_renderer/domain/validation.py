"""Template checks: value-blind validation, and the render-time checks with real values."""

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from sigil_renderer.domain import roundtrip
from sigil_renderer.engine import (
    CompiledTemplate,
    TemplateError,
    TemplateExecError,
    TemplateParseError,
    parse,
)
from sigil_renderer.template.executor import Decisions
from sigil_shared.contracts import TemplateFile, TemplateIssue, TemplateValidateReply

MAX_MISSING_PASSES = 64
_FORCED_MAX_OUTPUT = 256 * 1024
#: Values Docker Compose reads back exactly wherever they sit in an env file (unquoted or
#: in either quotes): no whitespace, quote, backslash, "$" or "#"; "=" is inert too unless
#: the value sits in a variable name.
_ENV_INERT = re.compile(r"[A-Za-z0-9_.,:/@%+^~*!?&()\[\]{}<>|;=-]+")


def _env_inert(output: str, values: Iterable[str]) -> bool:
    """Whether every value is inert where it appears in ``output`` (the render fast path)."""
    for value in values:
        if not _ENV_INERT.fullmatch(value):
            return False
        if "=" not in value:
            continue
        at = output.find(value)
        while at >= 0:
            line_start = output.rfind("\n", 0, at) + 1
            if output.find("=", line_start) >= at:  # the name ends at the first "="
                return False
            at = output.find(value, at + 1)
    return True


@dataclass
class FileResult:
    """Outcome for one file."""

    issues: list[TemplateIssue] = field(default_factory=list)
    references: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    output: str | None = None


class _Recording(Mapping[str, str]):
    """The secrets map, noting every key the template asks for by name (``.K``, ``index``);
    iterating (``range .Secrets``) is not asking by name and is not noted."""

    def __init__(self, data: Mapping[str, str]) -> None:
        self._data = data
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.asked.add(key)
        return key in self._data

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.add(key)
        return self._data.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def _issue(file: TemplateFile, err: TemplateError) -> TemplateIssue:
    return TemplateIssue(
        file=file,
        phase=err.phase,
        line=err.line,
        column=err.column,
        key=err.key,
        message=str(err),
    )


def value_free_error(
    template: CompiledTemplate,
    err: TemplateExecError,
    stand_ins: Mapping[str, str],
    decisions: Decisions,
) -> TemplateExecError:
    """The error to show for ``err``, raised by an execution on real values that took
    ``decisions``: never text derived from a value.

    Go's text quotes operands (``range can't iterate over X``), and an operand can be any
    transform of a value (a slice, ``printf "%x"``, a concatenation), so no masking of the
    value can make it safe. Instead the same branches are replayed on ``stand_ins``: when
    that run fails at the same place, its text (which can only quote stand-ins) is shown;
    otherwise a fixed message names the place and the keys, without Go's operand text.
    Limit errors are fixed text already.
    """
    if err.limit:
        return err
    keys = sorted(err.statement_keys)
    # The secret the failing action names, when it names one (a missing key is its own).
    key = err.key or (keys[0] if len(keys) == 1 else None)
    try:
        template.render(stand_ins, decisions=Decisions(replay=decisions.taken))
    except TemplateExecError as replayed:
        # Any replayed text is free of values; "the same place" keeps it accurate. An error
        # without a place (an empty template) counts when the text is the same.
        same = (replayed.line, replayed.column) == (err.line, err.column) and (
            err.line is not None or replayed.go_message == err.go_message
        )
        if same and not replayed.limit:
            return TemplateExecError(
                replayed.go_message,
                line=err.line,
                column=err.column,
                key=key,
                name=err.name,
                statement_keys=err.statement_keys,
            )
    where = f"{err.name}:{err.line}:{err.column}" if err.line is not None else err.name
    plural = "s" if len(keys) > 1 else ""
    whose = f"the value{plural} of secret{plural} {', '.join(keys)}" if keys else "a secret's value"
    return TemplateExecError(
        f"template: {where}: execution fails here with {whose}; Go's message is withheld "
        "because it may quote text derived from a value (validation shows it on stand-ins)",
        line=err.line,
        column=err.column,
        key=key,
        name=err.name,
        statement_keys=err.statement_keys,
    )


def _execute(
    file: TemplateFile,
    template: CompiledTemplate,
    secrets: Mapping[str, str],
    result: FileResult,
    *,
    filler: Callable[[str], str],
    real_values: bool,
) -> Decisions | None:
    """Execute; a key missing at run time is reported (Go's message), filled with
    ``filler(key)`` and execution goes on. The decisions of the completed run, if any.

    With ``real_values`` (render time) an error's text comes from stand-ins, never from the
    values (see :func:`value_free_error`).
    """
    filled: dict[str, str] = {}
    for _ in range(MAX_MISSING_PASSES):
        data = _Recording({**secrets, **filled})
        decisions = Decisions()
        try:
            result.output = template.render(data, decisions=decisions)
            return decisions
        except TemplateExecError as err:
            shown = err
            if real_values:
                stand_ins = {k: roundtrip.stand_in(k) for k in secrets}
                shown = value_free_error(template, err, {**stand_ins, **filled}, decisions)
            result.issues.append(_issue(file, shown))
            # err.key comes from the template text (a field name), never from a value.
            if err.key is None or err.key in filled or err.key in secrets:
                return None
            result.missing.add(err.key)
            filled[err.key] = filler(err.key)
        except Exception as err:
            if not real_values:
                raise
            # An engine bug's text may quote a value (ValueError: ... 'value'): only its
            # type goes on, without the chain (spans record the text and the traceback).
            msg = f"template engine failure while rendering {file}: {type(err).__name__}"
            raise RuntimeError(msg) from None
        finally:
            result.references |= data.asked & (set(secrets) | set(filled))
    return None


# -- validation: a pure function of the text and of which keys exist ------------------------


def validate_blind(
    file: TemplateFile,
    text: str,
    keys: frozenset[str],
    *,
    compile_template: Callable[[str, str], CompiledTemplate] = parse,
) -> FileResult:
    """Validate one file knowing only which keys exist in scope, never a value.

    ``references`` and ``missing`` come from the parse tree across every branch (plus keys a
    run on stand-ins asks for by name); a missing key is an error at its first site where Go
    would fail, except as the whole condition of an optional ``if``/``with`` (or inside the
    branch it guards). The template then runs on stand-ins for Go's other errors, and again
    on probes to find references sitting where a value could change the file's structure.
    """
    try:
        template = compile_template(text, file)
    except TemplateParseError as err:
        return FileResult(issues=[_issue(file, err)])
    sites = template.reference_sites
    result = FileResult(references={s.key for s in sites})
    reported: set[str] = set()  # a key's error is at its first site only
    for site in sites:
        if site.key in keys or site.optional:
            continue
        result.missing.add(site.key)
        if site.errs and site.key not in reported:
            reported.add(site.key)
            result.issues.append(_issue(file, template.missing_key_error(site)))
    stand_ins = {k: roundtrip.stand_in(k) for k in keys | result.missing}
    decisions = _execute(
        file, template, stand_ins, result, filler=roundtrip.stand_in, real_values=False
    )
    baseline, result.output = result.output, None  # validation never returns output
    if decisions is None or baseline is None:
        return result
    unreadable = roundtrip.readable_issue(file, baseline)
    if unreadable is not None:
        result.issues.append(unreadable)
        return result
    stand_ins = {k: roundtrip.stand_in(k) for k in keys | result.missing}  # + found at run time
    # Only names that can be secret keys (plain words): another name never holds a value,
    # so where it sits cannot change the file (it is reported missing above).
    named = {
        k: stand_ins[k] for k in result.references if k in stand_ins and roundtrip.plain_name(k)
    }
    if named:
        result.issues.extend(_lint(file, template, stand_ins, named, (baseline, decisions)))
    return result


def _lint(
    file: TemplateFile,
    template: CompiledTemplate,
    stand_ins: Mapping[str, str],
    named: Mapping[str, str],
    recorded: tuple[str, Decisions],
) -> list[TemplateIssue]:
    """Where references sit, on the branches stand-ins take and, as far as they run, with
    every if/with forced true and forced false: by position in the output, and by rendering
    again with quote-breaking probes in place of the stand-ins (same branches)."""
    runs = [recorded]
    branches = any(kind == "if" for kind, _ in recorded[1].taken)
    # Forcing branches costs two more renders: only for templates with branches, and not for
    # huge outputs (a size bound, not a clock: the answer must not vary between calls).
    for force in (True, False) if branches and len(recorded[0]) <= _FORCED_MAX_OUTPUT else ():
        forced = Decisions(force=force)
        try:
            runs.append((template.render(stand_ins, decisions=forced), forced))
        except TemplateError:
            continue  # a forced branch that cannot run says nothing about structure
    probes = {k: roundtrip.probe(k) for k in named}
    issues: list[TemplateIssue] = []
    for n, (text, decisions) in enumerate(runs):
        if n and roundtrip.readable_issue(file, text) is not None:
            continue
        issues.extend(roundtrip.position_findings(file, text, named))
        replayed = Decisions(replay=decisions.taken)
        try:
            checked = template.render({**stand_ins, **probes}, decisions=replayed)
        except TemplateError:
            issues.append(roundtrip.unverifiable(file))
            continue
        issues.extend(
            roundtrip.check(
                file,
                template,
                probes,
                checked=checked,
                decisions=replayed,
                baseline=(text, decisions),
            )
        )
    seen: set[tuple[str | None, int | None, str]] = set()
    unique = []
    for issue in issues:
        if (issue.key, issue.line, issue.message) not in seen:
            seen.add((issue.key, issue.line, issue.message))
            unique.append(issue)
    return unique


# -- render time: real values ----------------------------------------------------------------


def validate_file(
    file: TemplateFile,
    text: str,
    secrets: Mapping[str, str],
    *,
    compile_template: Callable[[str, str], CompiledTemplate] = parse,
) -> FileResult:
    """Render one file with real values: Go's errors (as on stand-ins), then the round-trip check
    that every value reads back exactly. Used by render only: its answer depends on values.
    """
    try:
        template = compile_template(text, file)
    except TemplateParseError as err:
        return FileResult(issues=[_issue(file, err)])  # the text alone: no value in it
    result = FileResult(references=set(template.secret_keys))
    decisions = _execute(
        file,
        template,
        secrets,
        result,
        filler=lambda key: f"sigilmissing-{key}-",
        real_values=True,
    )
    if result.issues or decisions is None or result.output is None:
        return result
    used = {k: secrets[k] for k in result.references if k in secrets}
    if template.names_secrets_dynamically:
        # ``range .Secrets`` prints values without asking for them by name: check them all,
        # so no reader's message about the real output is ever shown (it may quote them).
        used = dict(secrets)
    if file == "envFile" and _env_inert(result.output, used.values()):
        return result  # such values read back exactly where they sit: nothing to check
    if used:
        result.issues.extend(
            roundtrip.check(file, template, used, checked=result.output, decisions=decisions)
        )
    else:
        unreadable = roundtrip.readable_issue(file, result.output)
        if unreadable is not None:
            result.issues.append(unreadable)
    return result


#: A validate answer lists at most this many errors, and at most this many bytes of them (as
#: JSON); the rest are counted in ``errorsOmitted``.
VALIDATE_MAX_ERRORS = 100
VALIDATE_ERRORS_BYTES = 512 * 1024
#: ``references`` and ``missing`` each list at most this many names and bytes of them.
VALIDATE_MAX_NAMES = 1000
VALIDATE_NAMES_BYTES = 192 * 1024


def bounded_validate_reply(
    *, errors: list[TemplateIssue], references: list[str], missing: list[str]
) -> TemplateValidateReply:
    """The validate answer, sure to fit one bus message (well under NATS's 1 MiB default).

    ``errors`` lists the first errors in order — at most ``VALIDATE_MAX_ERRORS`` and
    ``VALIDATE_ERRORS_BYTES`` of JSON — and ``errorsOmitted`` counts the rest; ``references``
    and ``missing`` likewise list their first names, at most ``VALIDATE_MAX_NAMES`` and
    ``VALIDATE_NAMES_BYTES`` each. A list is always a prefix. The bound depends on the lists
    only (the text and which keys exist), never on a value; ``valid`` is about every error.
    """
    kept_errors = _prefix(
        [len(e.model_dump_json()) for e in errors], VALIDATE_MAX_ERRORS, VALIDATE_ERRORS_BYTES
    )
    # ASCII-escaped JSON is never shorter than the UTF-8 the reply is sent as.
    kept_references, kept_missing = (
        _prefix([len(json.dumps(n)) for n in names], VALIDATE_MAX_NAMES, VALIDATE_NAMES_BYTES)
        for names in (references, missing)
    )
    return TemplateValidateReply(
        valid=not errors,
        errors=errors[:kept_errors],
        references=references[:kept_references],
        missing=missing[:kept_missing],
        errors_omitted=len(errors) - kept_errors,
        references_omitted=len(references) - kept_references,
        missing_omitted=len(missing) - kept_missing,
    )


def _prefix(sizes: list[int], most: int, budget: int) -> int:
    """How many entries, from the first, fit in ``most`` entries and ``budget`` bytes."""
    used = 0
    for n, size in enumerate(sizes[:most]):
        used += size + 1  # and its comma
        if used > budget:
            return n
    return min(len(sizes), most)
