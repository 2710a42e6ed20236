"""Round-trip structure check: every secret must read back exactly from the rendered file.

The template is executed twice with the same branch decisions: once with the values to check
(real ones at render time, hostile probes during validation) and once with harmless
stand-ins. Both outputs are read the way their consumer reads them — Helm values as YAML
events, env files as Docker Compose's dotenv parser — and compared item by item: the same
document shape (no extra key, item or document), the same anchors, aliases and tags, and
every scalar that holds a stand-in reads back as the intended string (the stand-in replaced
by the value), with the same YAML type. YAML is compared as an event stream, so aliases are
never expanded: a few hundred bytes of nested aliases cost what their size costs.

Findings name the secret, the file and the line, and the fix; never the value.
"""

import re
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import zip_longest

import yaml

from sigil_renderer.engine import CompiledTemplate, TemplateError
from sigil_renderer.template.executor import Decisions, Limits
from sigil_renderer.template.values import format_float
from sigil_shared.contracts import TemplateFile, TemplateIssue

#: Rendered files larger than this are not read back (the render is refused).
MAX_CHECKED_BYTES = 4 * 1024 * 1024
#: CPU seconds one structure check may spend reading YAML/env output.
CHECK_TIMEOUT = 2.0
#: At most this many secrets are re-rendered one by one to find which one broke the shape.
MAX_ISOLATED = 64

_STAND_IN_PREFIX = "sigil-stand-in-"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()
_ENV_VARIABLE = re.compile(r"\$\$|\$\{[^}\n]*\}|\$[A-Za-z_][A-Za-z0-9_]*")
_ENV_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "$": "\x01"}
#: What validation appends to each stand-in to find references inside quotes written in the
#: template (``"{{ .Secrets.K }}"``): a quote and a backslash end or escape them there, and
#: read back exactly through ``printf "%q"``, unquoted and block scalars.
PROBE_SUFFIX = '"\\'


class StructureLimitError(Exception):
    """The output is too large or took too long to read back."""


class EnvSyntaxError(Exception):
    """The env file cannot be read as Docker Compose reads it."""

    def __init__(self, problem: str, line: int) -> None:
        super().__init__(problem)
        self.line = line


def stand_in(key: str, length: int = 0) -> str:
    """A harmless stand-in for ``key``: a plain word, unique per key, none a prefix of another
    (``-`` cannot occur in a key); padded to ``length`` so byte offsets behave alike."""
    base = f"{_STAND_IN_PREFIX}{key}-"
    return base + "x" * (length - len(base)) if length > len(base) else base


@dataclass(frozen=True)
class Item:
    """One comparable unit of a read-back file: a YAML event or an env name/value."""

    kind: str
    line: int
    value: str | None = None
    attrs: tuple[object, ...] = ()
    key_position: bool = False
    plain: bool = False
    style: str = ""
    implicit: object = None
    #: Characters of the output this item was read from (start, end).
    span: tuple[int, int] = (0, 0)


# -- readers ------------------------------------------------------------------------------


class _Budget:
    def __init__(self) -> None:
        self.deadline = time.thread_time() + CHECK_TIMEOUT
        self.steps = 0

    def tick(self) -> None:
        self.steps += 1
        if self.steps & 0x3FF == 0 and time.thread_time() > self.deadline:
            raise StructureLimitError("reading the rendered output back took too long")


def _yaml_items(text: str, budget: _Budget) -> Iterator[Item]:
    """YAML events as items; aliases stay aliases (nothing is expanded)."""
    stack: list[list[int]] = []  # per open mapping: [nodes seen]; sequences: []
    for event in yaml.parse(text, Loader=_YAML_LOADER):
        budget.tick()
        line = event.start_mark.line + 1 if event.start_mark else 0
        start, end = event.start_mark, event.end_mark
        span = (start.index, end.index) if start is not None and end is not None else (0, 0)
        is_node = isinstance(event, yaml.NodeEvent)
        key_position = False
        if is_node and stack and stack[-1]:
            key_position = stack[-1][0] % 2 == 0
            stack[-1][0] += 1
        if isinstance(event, yaml.ScalarEvent):
            plain = bool(event.implicit[0]) and not event.style
            yield Item(
                "scalar",
                line,
                event.value,
                (event.anchor, event.tag),
                key_position,
                plain,
                event.style or "",
                event.implicit,
                span,
            )
        elif isinstance(event, yaml.AliasEvent):
            yield Item("alias", line, None, (event.anchor,), key_position)
        elif isinstance(event, yaml.CollectionStartEvent):
            mapping = isinstance(event, yaml.MappingStartEvent)
            stack.append([0] if mapping else [])
            yield Item(type(event).__name__, line, None, (event.anchor, event.tag), key_position)
        elif isinstance(event, yaml.CollectionEndEvent):
            stack.pop()
            yield Item(type(event).__name__, line)
        elif isinstance(event, yaml.DocumentStartEvent | yaml.DocumentEndEvent):
            yield Item(type(event).__name__, line, None, (getattr(event, "tags", None),))


def _interpolate(text: str) -> str:
    """Compose substitutes ``$VAR`` / ``${VAR}`` (``$$`` is a literal ``$``): a substituted
    span reads back as something else, marked here with NUL."""
    return _ENV_VARIABLE.sub(lambda m: "$" if m[0] == "$$" else "\0", text)


_ENV_ESCAPE = re.compile(r"\\([nrt\\\"$])")
_DOUBLE_QUOTED_END = re.compile(r'(?:[^"\\]|\\.)*"', re.DOTALL)


def _double_quoted(body: str) -> str:
    # An escaped "$" is kept out of interpolation (marked, then restored).
    unescaped = _ENV_ESCAPE.sub(lambda m: _ENV_ESCAPES[m[1]], body)
    return _interpolate(unescaped).replace("\x01", "$")


def _env_value(text: str, i: int, end: int, line: int) -> tuple[str, str, int]:
    """The value starting at ``i`` (line ends at ``end``): (value, quote, where to go on)."""
    while i < end and text[i] in " \t":
        i += 1
    quote = text[i] if i < end and text[i] in "'\"" else ""
    if not quote:
        raw = text[i:end]
        cut = re.search(r"[ \t]#", raw)
        return _interpolate((raw[: cut.start()] if cut else raw).strip()), "", end
    if quote == "'":
        j = text.find("'", i + 1)
    else:
        closing = _DOUBLE_QUOTED_END.match(text, i + 1)
        j = closing.end() - 1 if closing else -1
    if j < 0:
        raise EnvSyntaxError("a quoted value is not closed", line)
    body = text[i + 1 : j]
    close = text.find("\n", j)  # whatever follows the closing quote is ignored
    return (
        (body if quote == "'" else _double_quoted(body)),
        quote,
        len(text) if close < 0 else close,
    )


def _env_items(text: str, budget: _Budget) -> Iterator[Item]:
    """Docker Compose's dotenv reading: ``[export ]NAME=value``, ``#`` comments, quoted
    values (single: literal; double: escapes, may span lines), unquoted values cut at
    `` #`` and trimmed, ``$`` interpolation outside single quotes."""
    i, n, line, counted = 0, len(text), 1, 0
    while i < n:
        budget.tick()
        if text[i] in " \t\r\f\v\n":
            i += 1
            continue
        line += text.count("\n", counted, i)  # counted incrementally: linear in the text
        counted = i
        end = text.find("\n", i)
        end = n if end < 0 else end
        if text[i] == "#":
            i = end
            continue
        if text.startswith("export ", i):
            i += len("export ")
        eq = text.find("=", i, end)
        name = text[i : end if eq < 0 else eq].strip()
        if not name or any(c.isspace() for c in name):
            raise EnvSyntaxError("a line is neither NAME=value nor a comment", line)
        yield Item("name", line, name, key_position=True)
        if eq < 0:
            yield Item("inherit", line)
            i = end
            continue
        start = eq + 1
        value, quote, i = _env_value(text, start, end, line)
        yield Item("value", line, value, style=quote, span=(start, i))


def _items(file: TemplateFile, text: str, budget: _Budget) -> Iterator[Item]:
    if len(text) > MAX_CHECKED_BYTES:
        raise StructureLimitError("the rendered output is too large to read back")
    if file == "valuesYaml":
        return _yaml_items(text, budget)
    return _env_items(text, budget)


# -- comparison ---------------------------------------------------------------------------


@dataclass
class Mismatch:
    """Where the checked output stops reading like the stand-in output."""

    line: int
    reason: str
    keys: set[str] = field(default_factory=set)
    expected: Item | None = None


def _key_of(stand_in_text: str) -> str:
    start = len(_STAND_IN_PREFIX)
    return stand_in_text[start : stand_in_text.index("-", start)]


#: Plain scalars Helm's YAML reader (go-yaml) takes as numbers though PyYAML's 1.1
#: resolver reads them as strings: read them as numbers too, so the check is never laxer.
_GO_YAML_NUMBER = re.compile(
    r"[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?|0o[0-7_]+|0x[0-9a-fA-F_]+"
    r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"
)


def _type(item: Item) -> str | None:
    if not item.plain or item.value is None:
        return None
    tag = str(_RESOLVER.resolve(yaml.ScalarNode, item.value, (True, False)))  # type: ignore[no-untyped-call]
    if tag == "tag:yaml.org,2002:str" and _GO_YAML_NUMBER.fullmatch(item.value):
        return "number"
    return tag


#: Tags under which a scalar reads back as its own text.
_STRING_TAGS = frozenset({None, "!", "tag:yaml.org,2002:str"})
_INT_TEXT = re.compile(r"-?(0|[1-9][0-9]*)")
_FLOAT_TEXT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def _tag(item: Item) -> str | None:
    """The tag the template wrote on a scalar (``!!int``), if any."""
    tag = item.attrs[1] if item.kind == "scalar" and len(item.attrs) > 1 else None
    return tag if isinstance(tag, str) else None


def _short_tag(tag: str) -> str:
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix) :] if tag.startswith(prefix) else tag


def _reads_back_under_tag(tag: str | None, value: str) -> bool:
    """Whether ``value`` in a scalar the template author tagged with ``tag`` reads back as
    exactly ``value``: any value under a string tag; under ``!!int``, ``!!float`` and
    ``!!bool`` only the canonical text of such a number or boolean (``8080``, ``1.5``,
    ``true``); never under any other tag (null, binary, timestamp, a custom tag)."""
    if tag in _STRING_TAGS:
        return True
    if tag == "tag:yaml.org,2002:int":
        return bool(_INT_TEXT.fullmatch(value)) and value != "-0"
    if tag == "tag:yaml.org,2002:float":
        return bool(_FLOAT_TEXT.fullmatch(value)) and format_float(float(value)) == value
    if tag == "tag:yaml.org,2002:bool":
        return value in ("true", "false")
    return False


class _Swap:
    """Turns a scalar read from the stand-in output into the ones intended with the values:
    each stand-in by its value (verbatim prints, and ``printf "%q"`` read back by a quoted
    scalar), or each chunk printed inside the scalar by the chunk printed in its place
    (escapers such as ``html``/``js``/``urlquery`` print a transformed value, read as is)."""

    def __init__(
        self,
        values: Mapping[str, str],
        expected_prints: list[tuple[int, str]],
        actual_prints: list[tuple[int, str]],
    ) -> None:
        self.values = values
        self._values = _alternation(values)
        self._prints = expected_prints
        self._offsets = [offset for offset, _ in expected_prints]
        self._actual = actual_prints

    def keys(self, text: str) -> set[str]:
        if self._values is None or _STAND_IN_PREFIX not in text:  # the common, cheap case
            return set()
        return {_key_of(s) for s in self._values.findall(text)}

    def intended(self, item: Item) -> tuple[str, ...]:
        assert item.value is not None
        out = []
        if self._values:
            out.append(self._values.sub(self.values.__getitem__, item.value))
        first = bisect_left(self._offsets, item.span[0])
        last = bisect_left(self._offsets, item.span[1])
        text, cursor = item.value, 0
        for (_, want), (_, got) in zip(
            self._prints[first:last], self._actual[first:last], strict=False
        ):
            at = text.find(want, cursor)
            if at < 0:
                break
            text = text[:at] + got + text[at + len(want) :]
            cursor = at + len(got)
        else:
            out.append(text)
        return tuple(out)


def _alternation(mapping: Mapping[str, str]) -> "_StandInFinder | None":
    if not mapping:
        return None
    return _StandInFinder(mapping)


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_]+")


def plain_name(name: str) -> bool:
    """True for a name of ASCII letters, digits and ``_`` (every secret key is one)."""
    return _PLAIN_KEY.fullmatch(name) is not None


_AFTER_PREFIX = re.compile(re.escape(_STAND_IN_PREFIX) + r"([A-Za-z0-9_]++)-")


class _StandInFinder:
    """Finds stand-ins (plain, padded, or probes: each ``stand_in(key)`` then anything) in
    text, leftmost and longest first, as an alternation of them would — without compiling
    one: a regular expression of N stand-ins costs seconds per MiB of their text to build.

    When every stand-in's key is a plain word (every secret key is), only one stand-in can
    start where a prefix is followed by a word and ``-``: that word's. Otherwise (a name
    with ``-`` from ``index .Secrets "a-b"``), the alternation is compiled as before.
    """

    def __init__(self, stand_ins: Iterable[str]) -> None:
        self._by_key: dict[str, str] | None = {}
        ordered = sorted(stand_ins, key=len, reverse=True)
        for text in ordered:
            key = _key_of(text)
            if not plain_name(key) or key in self._by_key:
                self._by_key = None
                break
            self._by_key[key] = text
        self._pattern = (
            re.compile("|".join(re.escape(s) for s in ordered)) if self._by_key is None else None
        )

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        """Start and end of each stand-in in ``text``, left to right, never overlapping."""
        if self._pattern is not None:
            yield from (found.span() for found in self._pattern.finditer(text))
            return
        assert self._by_key is not None
        at = 0
        while (match := _AFTER_PREFIX.search(text, at)) is not None:
            start = match.start()
            found = self._by_key.get(match[1])
            if found is not None and text.startswith(found, start):
                yield start, start + len(found)
                at = start + len(found)
            else:
                at = start + 1

    def findall(self, text: str) -> list[str]:
        """Every stand-in found in ``text``."""
        return [text[start:end] for start, end in self.spans(text)]

    def sub(self, replace: Callable[[str], str], text: str) -> str:
        """``text`` with each stand-in ``s`` found replaced by ``replace(s)``."""
        out, at = [], 0
        for start, end in self.spans(text):
            out.append(text[at:start])
            out.append(replace(text[start:end]))
            at = end
        out.append(text[at:])
        return "".join(out)


def _compare(
    file: TemplateFile, expected: str | list[Item], actual_text: str, swap: _Swap
) -> list[Mismatch]:
    """Read both outputs back and compare item by item.

    Raises YAMLError/EnvSyntaxError when the *stand-in* output cannot be read (a broken
    template), StructureLimitError past a bound.
    """
    budget = _Budget()
    found: list[Mismatch] = []
    expected_items = (
        expected if isinstance(expected, list) else list(_items(file, expected, budget))
    )
    try:
        for want, got in zip_longest(expected_items, _items(file, actual_text, budget)):
            if want is None or got is None or (want.kind, want.attrs) != (got.kind, got.attrs):
                anchor = want or got
                assert anchor is not None
                found.append(Mismatch(anchor.line, "shape", expected=want))
                return found
            if want.value is None or got.value is None:
                continue
            keys = swap.keys(want.value)
            same_style = (got.style, got.implicit) == (want.style, want.implicit)
            if not keys and got.value == want.value and same_style:
                continue
            if not same_style or (keys and got.value not in swap.intended(want)):
                found.append(Mismatch(want.line, "value", keys, want))
            elif _type(got) != _type(want):
                # Also a scalar with no stand-in that differs: a transformed secret (slice,
                # len, ...) must not change how the scalar reads.
                found.append(Mismatch(want.line, "type", keys, want))
            elif keys and not _reads_back_under_tag(_tag(want), got.value):
                # A tag the template wrote (``!!int``) makes the scalar that type: a value
                # that is not its canonical text would not read back as itself.
                found.append(Mismatch(want.line, "tag", keys, want))
    except (yaml.YAMLError, EnvSyntaxError) as err:
        line = getattr(getattr(err, "problem_mark", None), "line", None)
        found.append(
            Mismatch(line + 1 if line is not None else getattr(err, "line", 0), "unreadable", set())
        )
    return found


# -- the check ----------------------------------------------------------------------------


def _position(file: TemplateFile, item: Item | None) -> str:
    if item is None:
        return ""
    if file == "envFile":
        if item.key_position:
            return " inside an env variable name"
        return {"'": " in a single-quoted env value", '"': " in a double-quoted env value"}.get(
            item.style, " in an unquoted env value"
        )
    if item.key_position:
        return " inside a YAML key"
    return {
        "'": " in a single-quoted YAML scalar",
        '"': " in a double-quoted YAML scalar",
        "|": " in a block scalar",
        ">": " in a folded block scalar",
    }.get(item.style[:1], " in an unquoted YAML scalar")


def _fix(file: TemplateFile, key: str, item: Item | None) -> str:
    if item is not None and item.key_position:
        what = "variable names" if file == "envFile" else "keys"
        return f"keep {what} fixed and put the secret in a value"
    quoted = f'{{{{ .Secrets.{key} | printf "%q" }}}}'
    if file == "envFile":
        return f'quote it: {quoted} (a value holding "$" needs single quotes instead)'
    if item is not None and item.style in ("|", ">"):
        return f"quote it: {quoted} instead of a block scalar"
    return f"quote it: {quoted} (or put it in a block scalar indented to match)"


_REASONS = {
    "shape": "changes the document's shape (adds or removes a key, item, line, alias, "
    "anchor or tag)",
    "value": "does not read back as the intended string (cut at ' #', unquoted, escaped or "
    "interpolated)",
    "type": "is read back as another type (a number, boolean, null or timestamp), not a string",
    "unreadable": "makes the file unreadable",
    "tag": "does not read back as the intended string under the tag {tag} written next to it",
}


def _what(file: TemplateFile) -> str:
    return "Helm values" if file == "valuesYaml" else "env file (as Docker Compose reads it)"


def probe(key: str) -> str:
    """Validation's quote-breaking stand-in for ``key``: its stand-in plus ``PROBE_SUFFIX``."""
    return stand_in(key) + PROBE_SUFFIX


#: Positions where some value would change the file, whatever the value: (file, class) ->
#: what could happen. Unquoted env values are left out: Compose reads them literally up to
#: " #" and "$", which the render-time check catches with the real value.
_RISKY = {
    ("valuesYaml", "key"): "a secret would decide the document's keys",
    ("valuesYaml", ""): "a value with ': ', ' #', a newline or a leading indicator, or one "
    "that reads as a number, boolean, null or timestamp, would change the document",
    ("valuesYaml", "'"): "a value with a single quote or a newline would end or break the quotes",
    ("valuesYaml", "|"): "a multi-line value would leave the block's indentation",
    ("valuesYaml", ">"): "a multi-line value would leave the block's indentation",
    ("envFile", "key"): "a secret would decide the variable's name",
    ("envFile", "'"): "a value with a single quote would end the quotes",
}
_DOUBLE_QUOTED = "a value with a double quote or a backslash would end or escape the quotes"


def position_findings(
    file: TemplateFile, baseline: str, stand_ins: Mapping[str, str]
) -> list[TemplateIssue]:
    """Lint of the output on stand-ins: each reference that sits where some value would
    change the file (a YAML key or env name, an unquoted, single-quoted or block YAML
    scalar, a single-quoted env value), named with the fix."""
    pattern = _StandInFinder(stand_ins.values())
    issues: list[TemplateIssue] = []
    for item in _items(file, baseline, _Budget()):
        if item.value is None:
            continue
        keys = sorted({_key_of(s) for s in pattern.findall(item.value)})
        tag = _tag(item)
        if keys and tag not in _STRING_TAGS:
            assert tag is not None
            issues.extend(
                _lint_issue(file, key, item, _tag_risk(tag), fix=_tag_fix(tag)) for key in keys
            )
        position = "key" if item.key_position else item.style[:1]
        risk = _RISKY.get((file, position))
        if risk is None:
            continue
        issues.extend(_lint_issue(file, key, item, risk) for key in keys)
    return _dedupe(issues)


def _tag_risk(tag: str) -> str:
    return (
        f"the tag {_short_tag(tag)} written next to it reads the scalar as that type: a value "
        "that is not its canonical text would not read back as itself"
    )


def _tag_fix(tag: str) -> str:
    return f"remove the tag {_short_tag(tag)} (a tagged scalar is read as that type)"


def _lint_issue(
    file: TemplateFile,
    key: str,
    item: Item | None,
    risk: str,
    line: int | None = None,
    *,
    fix: str | None = None,
) -> TemplateIssue:
    line = item.line if item is not None else line
    where = _position(file, item) or " in quotes the template wrote"
    return TemplateIssue(
        file=file,
        phase="structure",
        line=line,
        key=key,
        message=(
            f"{file} line {line}: the reference to secret {key} sits{where}: {risk}; "
            f"{fix or _fix(file, key, item)}"
        ),
    )


def check(
    file: TemplateFile,
    template: CompiledTemplate,
    values: Mapping[str, str],
    *,
    checked: str,
    decisions: Decisions,
    baseline: tuple[str, Decisions] | None = None,
    limits: Limits | None = None,
) -> list[TemplateIssue]:
    """Structure findings for ``checked``, the output rendered with ``values`` (``decisions``
    recorded its branches and prints).

    Render time: the baseline is the output on stand-ins replaying those branches
    (memoised per template and branches). Validation: ``values`` are probes and ``baseline`` is the
    output (and decisions) on plain stand-ins that the probe render replayed; findings then
    say where a reference sits.
    """
    if not values:
        return []
    probing = baseline is not None
    stand_ins = {k: stand_in(k) for k in values}
    expected: list[Item] | None = None
    try:
        if baseline is None:
            stand_ins, baseline, expected = _baseline(file, template, values, decisions, limits)
        text, base_decisions = baseline
        swap = _Swap(
            {stand_ins[k]: v for k, v in values.items()}, base_decisions.prints, decisions.prints
        )
        mismatches = _compare(file, expected if expected is not None else text, checked, swap)
    except TemplateError:
        return [unverifiable(file)]
    except StructureLimitError as err:
        return [TemplateIssue(file=file, phase="structure", message=f"{_what(file)}: {err}")]
    except (yaml.YAMLError, EnvSyntaxError) as err:
        return [_unreadable(file, err)]
    issues: list[TemplateIssue] = []
    for mismatch in mismatches:
        keys = mismatch.keys or _isolate(
            file, template, values, stand_ins, baseline=baseline, decisions=decisions
        )
        issues.extend(_issue(file, key, mismatch, probing=probing) for key in sorted(keys))
        if not keys:
            issues.append(unverifiable(file))
    return _dedupe(issues, by_line=probing)


_MEMO_SIZE = 16


def _baseline(
    file: TemplateFile,
    template: CompiledTemplate,
    values: Mapping[str, str],
    decisions: Decisions,
    limits: Limits | None,
) -> tuple[dict[str, str], tuple[str, Decisions], list[Item]]:
    """The stand-in output for the branches ``decisions`` took, read back; memoised on the
    template (it depends on the branches and the keys only). When plain stand-ins cannot
    take those branches (a slice or index past their end), stand-ins padded to each
    value's length are used, unmemoised."""
    key = (file, tuple(decisions.taken), frozenset(values))
    memo = template.memo.get(key)
    if memo is not None:
        return memo  # type: ignore[return-value]
    stand_ins = {k: stand_in(k) for k in values}
    replayed = Decisions(replay=decisions.taken)
    try:
        text = template.render(stand_ins, limits=limits, decisions=replayed)
        padded = False
    except TemplateError:
        stand_ins = {
            k: stand_in(k, len(v.encode("utf-8", "surrogatepass"))) for k, v in values.items()
        }
        replayed = Decisions(replay=decisions.taken)
        text = template.render(stand_ins, limits=limits, decisions=replayed)
        padded = True
    result = (stand_ins, (text, replayed), list(_items(file, text, _Budget())))
    if not padded:
        if len(template.memo) >= _MEMO_SIZE:
            template.memo.pop(next(iter(template.memo)))
        template.memo[key] = result
    return result


def _isolate(
    file: TemplateFile,
    template: CompiledTemplate,
    values: Mapping[str, str],
    stand_ins: Mapping[str, str],
    *,
    baseline: tuple[str, Decisions],
    decisions: Decisions,
) -> set[str]:
    """Which secrets break the output on their own (each rendered alone among stand-ins)."""
    culprits: set[str] = set()
    text, base_decisions = baseline
    for key in sorted(values)[:MAX_ISOLATED]:
        alone = {**stand_ins, key: values[key]}
        replayed = Decisions(replay=decisions.taken)
        try:
            output = template.render(alone, decisions=replayed)
            swap = _Swap({stand_ins[key]: values[key]}, base_decisions.prints, replayed.prints)
            if _compare(file, text, output, swap):
                culprits.add(key)
        except (TemplateError, StructureLimitError, yaml.YAMLError, EnvSyntaxError):
            culprits.add(key)
    return culprits


def _issue(file: TemplateFile, key: str, mismatch: Mismatch, *, probing: bool) -> TemplateIssue:
    where = _position(file, mismatch.expected)
    tag = _tag(mismatch.expected) if mismatch.expected is not None else None
    if mismatch.reason == "tag" and tag is not None:
        reason, fix = _REASONS["tag"].format(tag=_short_tag(tag)), _tag_fix(tag)
        if probing:
            return _lint_issue(file, key, mismatch.expected, _tag_risk(tag), mismatch.line, fix=fix)
    else:
        reason, fix = _REASONS[mismatch.reason], _fix(file, key, mismatch.expected)
    if probing:
        return _lint_issue(file, key, mismatch.expected, _DOUBLE_QUOTED, mismatch.line)
    message = f"secret {key} {reason} in {file} line {mismatch.line}{where}; {fix}"
    return TemplateIssue(file=file, phase="structure", line=mismatch.line, key=key, message=message)


def unverifiable(file: TemplateFile) -> TemplateIssue:
    return TemplateIssue(
        file=file,
        phase="structure",
        message=(
            f"the {_what(file)} cannot be checked against stand-ins (its branches or ranges "
            'depend on a secret\'s value); quote every reference with printf "%q"'
        ),
    )


def _unreadable(file: TemplateFile, err: Exception) -> TemplateIssue:
    mark = getattr(err, "problem_mark", None)
    line = mark.line + 1 if mark is not None else getattr(err, "line", None)
    column = mark.column + 1 if mark is not None else None
    problem = getattr(err, "problem", None) or str(err)
    kind = "a valid YAML document" if file == "valuesYaml" else "a valid env file"
    return TemplateIssue(
        file=file,
        phase="structure",
        line=line,
        column=column,
        message=f"{file} is not {kind}: {problem} (line {line}, column {column})"
        if column
        else f"{file} is not {kind}: {problem} (line {line})",
    )


def _dedupe(issues: list[TemplateIssue], *, by_line: bool = False) -> list[TemplateIssue]:
    """One finding per (key, message), or per (key, line) for lint (a probe that breaks a
    quoted scalar may break the rest of the file too: the first finding says it)."""
    seen: set[tuple[str | None, object]] = set()
    out: list[TemplateIssue] = []
    for issue in issues:
        mark = (issue.key, issue.line if by_line and issue.key else issue.message)
        if mark not in seen:
            seen.add(mark)
            out.append(issue)
    return out


def readable_issue(file: TemplateFile, text: str) -> TemplateIssue | None:
    """A finding when ``text`` (rendered on stand-ins) is not valid YAML / env at all."""
    try:
        for _ in _items(file, text, _Budget()):
            pass
    except (yaml.YAMLError, EnvSyntaxError) as err:
        return _unreadable(file, err)
    except StructureLimitError as err:
        return TemplateIssue(file=file, phase="structure", message=f"{_what(file)}: {err}")
    return None
