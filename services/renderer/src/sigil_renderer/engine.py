"""The public template API: parse once, render many times, errors with Go's own text."""

import hashlib
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from sigil_renderer.template.executor import (
    Decisions,
    ExecError,
    LimitError,
    Limits,
    execute,
    missing_key_error,
)
from sigil_renderer.template.parser import ParseError, Tree, parse_trees
from sigil_renderer.template.references import (
    ReferenceSite,
    keys_in,
    names_secrets_dynamically,
    reference_sites,
    referenced_keys,
)
from sigil_renderer.template.values import Root

MAX_TEMPLATE_BYTES = 1024 * 1024
# Parsing is bounded like execution: a megabyte of "{{ 1 }}" is ~150,000 actions and
# half a million tokens, seconds of CPU in pure Python; real Helm values have hundreds.
MAX_ACTIONS = 10_000
MAX_TOKENS = 100_000
PARSE_TIMEOUT = 2.0
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
Phase = Literal["parse", "exec"]


class TemplateError(Exception):
    """A template that cannot be parsed or executed; never carries a secret value."""

    phase: Phase = "parse"
    prefix = "template parsing error"

    def __init__(
        self,
        go_message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        key: str | None = None,
        name: str = "template",
        statement_keys: frozenset[str] = frozenset(),
        limit: bool = False,
    ) -> None:
        super().__init__(f"{self.prefix}: {go_message}")
        self.go_message = go_message
        self.line = line
        self.column = column
        self.key = key
        self.name = name
        #: Keys the failing action names (its pipeline only, not the body it guards).
        self.statement_keys = statement_keys
        #: A resource limit: its text is fixed (sizes, durations), never an operand.
        self.limit = limit


class TemplateParseError(TemplateError):
    """The template text is not valid Go template syntax."""

    phase: Phase = "parse"
    prefix = "template parsing error"


class TemplateExecError(TemplateError):
    """The template failed while executing (a missing secret, a bad call, a limit)."""

    phase: Phase = "exec"
    prefix = "template execution error"


@dataclass(frozen=True)
class CompiledTemplate:
    """A parsed template, reusable across renders."""

    name: str
    trees: Mapping[str, Tree]
    #: Per-template memo of the structure check (stand-in outputs read back, by branches).
    memo: dict[object, object] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def secret_keys(self) -> frozenset[str]:
        """Keys the template refers to (computed once per compiled template)."""
        return frozenset(referenced_keys(self.trees))

    @cached_property
    def names_secrets_dynamically(self) -> bool:
        """Whether some use of ``.Secrets`` does not name its key (``range .Secrets``, ...)."""
        return names_secrets_dynamically(self.trees)

    @cached_property
    def reference_sites(self) -> tuple[ReferenceSite, ...]:
        """Every place the template names a secret, on every branch, in text order."""
        return tuple(reference_sites(self.trees))

    def missing_key_error(self, site: ReferenceSite) -> "TemplateExecError":
        """Go's own execution error for ``site``'s key being absent, located at the site."""
        err = missing_key_error(self.trees, site.tree, site.node, site.key)
        return TemplateExecError(
            str(err), line=err.line, column=err.column, key=err.key, name=self.name
        )

    def render(
        self,
        secrets: Mapping[str, str],
        *,
        limits: Limits | None = None,
        decisions: Decisions | None = None,
    ) -> str:
        """Execute on ``{"Secrets": secrets}`` (recording or replaying branch decisions)."""
        try:
            output = execute(self.trees, self.name, Root(secrets), limits or Limits(), decisions)
        except ExecError as err:
            raise TemplateExecError(
                str(err),
                line=err.line,
                column=err.column,
                key=err.key,
                name=self.name,
                statement_keys=frozenset(keys_in(err.statement)),
                limit=isinstance(err, LimitError),
            ) from None
        # Go writes bytes; a template that slices a multi-byte character writes invalid
        # UTF-8, which text consumers see as U+FFFD.
        try:
            raw = output.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a value carried a lone surrogate
            raw = _LONE_SURROGATE.sub("\ufffd", output).encode("utf-8")
        return raw.decode("utf-8", "replace")


def parse(template: str, name: str = "template") -> CompiledTemplate:
    """Parse ``template`` with Go's grammar; TemplateParseError with Go's message."""
    if len(template) > MAX_TEMPLATE_BYTES or len(template.encode("utf-8", "surrogatepass")) > (
        MAX_TEMPLATE_BYTES
    ):
        raise TemplateParseError(f"template: {name}: template larger than 1 MiB", name=name)
    # Go reads UTF-8 bytes; a lone surrogate cannot be one, so it reads as U+FFFD.
    template = _LONE_SURROGATE.sub("\ufffd", template)
    if template.count("{{") > MAX_ACTIONS:  # refused before any lexing: C-speed count
        raise TemplateParseError(
            f"template: {name}: template has more than {MAX_ACTIONS} actions", name=name
        )
    try:
        trees = parse_trees(template, name, timeout=PARSE_TIMEOUT, max_tokens=MAX_TOKENS)
    except ParseError as err:
        raise TemplateParseError(str(err), line=err.line, name=name) from None
    except RecursionError:
        raise TemplateParseError(
            f"template: {name}: template nesting too deep to parse", name=name
        ) from None
    return CompiledTemplate(name=name, trees=trees)


def render(template: str, secrets: Mapping[str, str], name: str = "template") -> str:
    """Parse and execute in one step."""
    return parse(template, name).render(secrets)


class TemplateCache:
    """Compiled templates keyed by a hash of (name, text); least recently used evicted."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._entries: OrderedDict[bytes, CompiledTemplate] = OrderedDict()

    def parse(self, template: str, name: str = "template") -> CompiledTemplate:
        """Like :func:`parse`, reusing the compiled form of text seen before."""
        digest = hashlib.sha256(
            name.encode() + b"\0" + template.encode("utf-8", "surrogatepass")
        ).digest()
        cached = self._entries.get(digest)
        if cached is not None:
            self._entries.move_to_end(digest)
            return cached
        compiled = parse(template, name)
        self._entries[digest] = compiled
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return compiled
