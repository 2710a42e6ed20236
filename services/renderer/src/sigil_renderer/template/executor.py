"""Executor of Go's text/template (text/template/exec.go) with missingkey=error."""

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from sigil_renderer.template import nodes as n
from sigil_renderer.template.builtins import BUILTINS, INTERFACE_ARGS, BuiltinError
from sigil_renderer.template.gofmt import WrappedError, double_percent, errorf, sprint
from sigil_renderer.template.lexer import go_quote
from sigil_renderer.template.parser import Tree
from sigil_renderer.template.values import NO_VALUE, ROOT_TYPE, Root, is_true, type_name

MISSING = object()  # "no final value" (Go's missingVal)


class ExecError(Exception):
    """An execution error; ``str`` is Go's ``err.Error()``."""

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        key: str | None = None,
        statement: n.Node | None = None,
    ) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.key = key
        #: The pipeline of the action (or if/with/range/template) that was running: names
        #: the keys involved when Go's own text cannot be shown.
        self.statement = statement


class LimitError(ExecError):
    """A resource limit (output size, time, depth) was reached."""


class _Break(Exception):  # noqa: N818 - control flow, not an error
    pass


class _Continue(Exception):  # noqa: N818
    pass


class _MissingKey(Exception):  # noqa: N818
    """A missing secret in a lenient ``if``/``with`` condition."""


class ReplayMismatchError(ExecError):
    """A replayed execution could not follow the recorded branches (a range length differed)."""


@dataclass
class Decisions:
    """The branches one execution took, recorded; or replayed so that a second execution
    (on stand-ins) takes the same ``if``/``with`` branches as the first (on real values)."""

    taken: list[tuple[str, int]] = field(default_factory=list)
    replay: list[tuple[str, int]] | None = None
    #: Instead of replaying: take every if/with branch this way (to lint untaken branches).
    force: bool | None = None
    #: What each action printed and where (characters into the output), in order: pairs up
    #: the outputs of two executions that took the same branches.
    prints: list[tuple[int, str]] = field(default_factory=list)

    def branch(self, truth: bool) -> bool:
        """The truth to act on for the next if/with."""
        if self.force is not None:
            truth = self.force
        elif self.replay is not None:
            recorded = self._next("if")
            truth = bool(recorded)
        self.taken.append(("if", int(truth)))
        return truth

    def ranged(self, count: int) -> None:
        """A range ran ``count`` times; a replay must run it the same number of times."""
        if self.force is None and self.replay is not None and self._next("range") != count:
            raise ReplayMismatchError("range length differs from the recorded execution")
        self.taken.append(("range", count))

    def _next(self, kind: str) -> int:
        assert self.replay is not None
        i = len(self.taken)
        if i >= len(self.replay) or self.replay[i][0] != kind:
            raise ReplayMismatchError("execution diverged from the recorded branches")
        return self.replay[i][1]


@dataclass(frozen=True)
class Limits:
    """Execution limits for hostile templates."""

    max_output: int = 8 * 1024 * 1024
    max_depth: int = 50
    timeout: float = 2.0


class State:
    """Execution state of one template call (Go's ``state``)."""

    def __init__(
        self,
        trees: Mapping[str, Tree],
        tree: Tree,
        out: list[str],
        limits: Limits,
        deadline: float,
        depth: int = 0,
        decisions: Decisions | None = None,
    ) -> None:
        self.decisions = decisions
        self.trees = trees
        self.tree = tree
        self.out = out
        self.limits = limits
        self.deadline = deadline
        self.depth = depth
        self.node: n.Node | None = None
        self.statement: n.Node | None = None
        self.vars: list[tuple[str, object]] = []
        self.size = [0]
        self.lenient = False
        self.steps = 0

    # -- errors ------------------------------------------------------------------

    def at(self, node: n.Node) -> None:
        self.node = node

    def location(self, node: n.Node) -> tuple[int, int]:
        # From the tree's precomputed index: never a slice of the whole text per error.
        return self.tree.location(node.pos)

    def errorf(self, fmt: str, *args: object, key: str | None = None) -> ExecError:
        # Go splices the (unescaped) parse name into the format before applying the
        # arguments, so a name holding "%" consumes them: mirror that exactly.
        name = double_percent(self.tree.name)
        if self.node is None:
            return ExecError(
                errorf(f"template: {name}: {fmt}", *args), key=key, statement=self.statement
            )
        line, column = self.location(self.node)
        location = f"{self.tree.parse_name}:{line}:{column}"
        context = double_percent(str(self.node))
        return ExecError(
            errorf(
                f"template: {location}: executing {go_quote(name)} at <{context}>: {fmt}", *args
            ),
            line=line,
            column=column,
            key=key,
            statement=self.statement,
        )

    def tick(self) -> None:
        self.steps += 1
        if self.steps & 0xFF == 0 and time.monotonic() > self.deadline:
            raise LimitError(
                f"template: {self.tree.parse_name}: rendering took longer than "
                f"{self.limits.timeout:g}s"
            )

    def write(self, text: str) -> None:
        self.size[0] += len(text)
        if self.size[0] > self.limits.max_output:
            raise LimitError(
                f"template: {self.tree.parse_name}: output larger than "
                f"{self.limits.max_output // (1024 * 1024)} MiB"
            )
        self.out.append(text)

    # -- variables ---------------------------------------------------------------

    def push(self, name: str, value: object) -> None:
        self.vars.append((name, value))

    def mark(self) -> int:
        return len(self.vars)

    def pop(self, mark: int) -> None:
        del self.vars[mark:]

    def set_var(self, name: str, value: object) -> None:
        for i in range(self.mark() - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        raise self.errorf("undefined variable: %s", name)

    def set_top_var(self, offset: int, value: object) -> None:
        name = self.vars[len(self.vars) - offset][0]
        self.vars[len(self.vars) - offset] = (name, value)

    def var_value(self, name: str) -> object:
        for i in range(self.mark() - 1, -1, -1):
            if self.vars[i][0] == name:
                return self.vars[i][1]
        raise self.errorf("undefined variable: %s", name)

    # -- walking -----------------------------------------------------------------

    def walk(self, dot: object, node: n.Node) -> None:
        self.tick()
        self.at(node)
        if isinstance(node, n.ActionNode):
            self.statement = node.pipe
            key = node.printed_secret
            if key is not None and type(dot) is Root:
                # {{ .Secrets.KEY }} of a key that exists: the value itself is what the
                # pipeline would give and Sprint would print. Anything else (a missing key,
                # another dot) takes the general path, errors included.
                secret = dot.secrets.get(key)
                if type(secret) is str:
                    self.print_text(secret)
                    return
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.print_value(node, value)
        elif isinstance(node, n.BreakNode):
            raise _Break
        elif isinstance(node, n.ContinueNode):
            raise _Continue
        elif isinstance(node, n.CommentNode):
            pass
        elif isinstance(node, n.IfNode | n.WithNode):
            self.walk_if_or_with(dot, node)
        elif isinstance(node, n.ListNode):
            for child in node.nodes:
                self.walk(dot, child)
        elif isinstance(node, n.RangeNode):
            self.walk_range(dot, node)
        elif isinstance(node, n.TemplateNode):
            self.walk_template(dot, node)
        elif isinstance(node, n.TextNode):
            self.write(node.text)
        else:
            raise self.errorf("unknown node: %s", str(node))

    def walk_if_or_with(self, dot: object, node: n.BranchNode) -> None:
        mark = self.mark()
        self.statement = node.pipe
        try:
            value = self.eval_condition(dot, node.pipe)
            truth, ok = is_true(value)
            if not ok:
                raise self.errorf("if/with can't use %v", value)
            if self.decisions is not None:
                truth = self.decisions.branch(truth)
            if truth:
                self.walk(value if isinstance(node, n.WithNode) else dot, node.list)
            elif node.else_list is not None:
                self.walk(dot, node.else_list)
        finally:
            self.pop(mark)

    def eval_condition(self, dot: object, pipe: n.PipeNode) -> object:
        """Sigil's one deviation: a missing secret that *is* the condition is false."""
        lenient = (
            not pipe.decl
            and len(pipe.cmds) == 1
            and len(pipe.cmds[0].args) == 1
            and isinstance(pipe.cmds[0].args[0], n.FieldNode | n.VariableNode)
        )
        if not lenient:
            return self.eval_pipeline(dot, pipe)
        self.lenient = True
        try:
            return self.eval_pipeline(dot, pipe)
        except _MissingKey:
            return NO_VALUE
        finally:
            self.lenient = False

    def walk_range(self, dot: object, node: n.RangeNode) -> None:
        self.at(node)
        mark = self.mark()
        self.statement = node.pipe
        try:
            value = self.eval_pipeline(dot, node.pipe)
            inner = self.mark()

            def one(index: object, elem: object) -> bool:
                if node.pipe.decl:
                    if node.pipe.is_assign:
                        target = node.pipe.decl[0].ident[0]
                        self.set_var(target, index if len(node.pipe.decl) > 1 else elem)
                    else:
                        self.set_top_var(1, elem)
                if len(node.pipe.decl) > 1:
                    if node.pipe.is_assign:
                        self.set_var(node.pipe.decl[1].ident[0], elem)
                    else:
                        self.set_top_var(2, index)
                try:
                    self.walk(elem, node.list)
                except _Continue:
                    pass
                finally:
                    self.pop(inner)
                return True

            ran = False
            if self.decisions is not None:
                self.decisions.ranged(_range_length(value))
            try:
                if isinstance(value, Mapping):
                    for key in sorted(value, key=lambda k: k.encode("utf-8", "surrogateescape")):
                        ran = one(key, value[key])
                elif isinstance(value, int) and not isinstance(value, bool):
                    if len(node.pipe.decl) > 1:
                        raise self.errorf(
                            "can't use %v to iterate over more than one variable", value
                        )
                    for i in range(int(value)):
                        self.tick()
                        ran = one(NO_VALUE, i)
                elif value is None or value is NO_VALUE:
                    pass
                else:
                    raise self.errorf("range can't iterate over %v", value)
            except _Break:
                return
            if not ran and node.else_list is not None:
                self.walk(dot, node.else_list)
        finally:
            self.pop(mark)

    def walk_template(self, dot: object, node: n.TemplateNode) -> None:
        self.at(node)
        tree = self.trees.get(node.name)
        if tree is None or tree.root is None:
            raise self.errorf("template %q not defined", node.name)
        if self.depth >= self.limits.max_depth:
            raise LimitError(
                self.errorf("exceeded maximum template depth (%v)", self.limits.max_depth).args[0]
            )
        self.statement = node.pipe
        value = self.eval_pipeline(dot, node.pipe) if node.pipe is not None else NO_VALUE
        child = State(
            self.trees,
            tree,
            self.out,
            self.limits,
            self.deadline,
            depth=self.depth + 1,
            decisions=self.decisions,
        )
        child.size = self.size
        child.steps = self.steps
        child.vars = [("$", value)]
        child.walk(value, tree.root)
        self.steps = child.steps

    # -- evaluation ----------------------------------------------------------------

    def eval_pipeline(self, dot: object, pipe: n.PipeNode | None) -> object:
        if pipe is None:
            return NO_VALUE
        self.at(pipe)
        value: object = MISSING
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
        for variable in pipe.decl:
            if pipe.is_assign:
                self.set_var(variable.ident[0], value)
            else:
                self.push(variable.ident[0], value)
        return value

    def not_a_function(self, args: list[n.Node], final: object) -> None:
        if len(args) > 1 or final is not MISSING:
            raise self.errorf("can't give argument to non-function %s", str(args[0]))

    def eval_command(self, dot: object, cmd: n.CommandNode, final: object) -> object:
        first = cmd.args[0]
        if isinstance(first, n.FieldNode):
            return self.eval_field_node(dot, first, cmd.args, final)
        if isinstance(first, n.ChainNode):
            return self.eval_chain_node(dot, first, cmd.args, final)
        if isinstance(first, n.IdentifierNode):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, n.PipeNode):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, n.VariableNode):
            return self.eval_variable_node(dot, first, cmd.args, final)
        self.at(first)
        self.not_a_function(cmd.args, final)
        if isinstance(first, n.BoolNode):
            return first.value
        if isinstance(first, n.DotNode):
            return dot
        if isinstance(first, n.NilNode):
            raise self.errorf("nil is not a command")
        if isinstance(first, n.NumberNode):
            return self.ideal_constant(first)
        if isinstance(first, n.StringNode):
            return first.text
        raise self.errorf("can't evaluate command %q", str(first))

    def ideal_constant(self, node: n.NumberNode) -> object:
        self.at(node)
        text = node.text
        if node.is_complex:
            return node.complex_value
        if (
            node.is_float
            and not _is_hex_int(text)
            and not text.startswith("'")
            and any(c in text for c in ".eEpP")
        ):
            return node.float_value
        if node.is_int:
            return node.int_value
        if node.is_uint:
            raise self.errorf("%s overflows int", text)
        return NO_VALUE

    def eval_field_node(
        self, dot: object, field: n.FieldNode, args: list[n.Node], final: object
    ) -> object:
        self.at(field)
        return self.eval_field_chain(dot, dot, field, field.ident, args, final)

    def eval_chain_node(
        self, dot: object, chain: n.ChainNode, args: list[n.Node], final: object
    ) -> object:
        if isinstance(chain.node, n.NilNode):
            raise self.errorf("indirection through explicit nil in %s", str(chain))
        pipe = self.eval_arg(dot, None, chain.node)
        return self.eval_field_chain(dot, pipe, chain, chain.fields, args, final)

    def eval_variable_node(
        self, dot: object, variable: n.VariableNode, args: list[n.Node], final: object
    ) -> object:
        self.at(variable)
        value = self.var_value(variable.ident[0])
        if len(variable.ident) == 1:
            self.not_a_function(args, final)
            return value
        return self.eval_field_chain(dot, value, variable, variable.ident[1:], args, final)

    def eval_field_chain(
        self,
        dot: object,
        receiver: object,
        node: n.Node,
        ident: list[str],
        args: list[n.Node],
        final: object,
    ) -> object:
        for name in ident[:-1]:
            receiver = self.eval_field(dot, name, node, [], MISSING, receiver, last=False)
        return self.eval_field(dot, ident[-1], node, args, final, receiver, last=True)

    def eval_field(
        self,
        dot: object,
        name: str,
        node: n.Node,
        args: list[n.Node],
        final: object,
        receiver: object,
        *,
        last: bool,
    ) -> object:
        del dot
        if receiver is NO_VALUE:
            raise self.errorf("nil data; no entry for key %q", name, key=name)
        has_args = len(args) > 1 or final is not MISSING
        if isinstance(receiver, Root):
            if name == "Secrets":
                if has_args:
                    raise self.errorf("%s has arguments but cannot be invoked as function", name)
                return receiver.secrets
        elif isinstance(receiver, Mapping):
            if has_args:
                raise self.errorf("%s is not a method but has arguments", name)
            if name in receiver:
                return receiver[name]
            if last and self.lenient:
                raise _MissingKey
            raise self.errorf("map has no entry for key %q", name, key=name)
        elif receiver is None:
            raise self.errorf("nil pointer evaluating %s.%s", "interface {}", name)
        raise self.errorf("can't evaluate field %s in type %s", name, type_name(receiver))

    def eval_function(
        self,
        dot: object,
        node: n.IdentifierNode,
        cmd: n.Node,
        args: list[n.Node],
        final: object,
    ) -> object:
        self.at(node)
        name = node.ident
        if name not in BUILTINS:
            raise self.errorf("%q is not a defined function", name)
        return self.eval_call(dot, name, cmd, args, final)

    def eval_call(
        self, dot: object, name: str, node: n.Node, args: list[n.Node], final: object
    ) -> object:
        fn, num_fixed, variadic = BUILTINS[name]
        call_args = args[1:] if args else []
        num_in = len(call_args) + (0 if final is MISSING else 1)
        if variadic:
            if num_in < num_fixed:
                raise self.errorf(
                    "wrong number of args for %s: want at least %d got %d",
                    name,
                    num_fixed,
                    len(call_args),
                )
        elif num_in != num_fixed:
            raise self.errorf(
                "wrong number of args for %s: want %d got %d", name, num_fixed, num_in
            )
        if name in ("and", "or"):
            value: object = NO_VALUE
            for arg in call_args:
                value = self.eval_arg(dot, "value", arg)
                if is_true(value)[0] == (name == "or"):
                    return value
            if final is not MISSING:
                value = final
            return value
        values: list[object] = []
        for i, arg in enumerate(call_args):
            kind = "value"
            if name in INTERFACE_ARGS:
                kind = "string" if (name == "printf" and i == 0) else "any"
            values.append(self.eval_arg(dot, kind, arg))
        if final is not MISSING:
            if name == "printf" and num_in - 1 < 1:
                values.append(self.validate_type(final, "string"))
            else:
                values.append(final)
        try:
            result = fn(*values)
        except BuiltinError as err:
            self.at(node)
            raise self.errorf("error calling %s: %w", name, WrappedError(str(err))) from None
        return result

    def validate_type(self, value: object, kind: str | None) -> object:
        if value is NO_VALUE:
            if kind in (None, "any"):
                return None
            if kind == "value":
                # A reflect.Value parameter takes Go's zero Value (canBeNil(reflectValueType)).
                return NO_VALUE
            raise self.errorf("invalid value; expected %s", kind)
        if kind == "string" and not isinstance(value, str):
            raise self.errorf("wrong type for value; expected string; got %s", type_name(value))
        return value

    def eval_arg(self, dot: object, kind: str | None, node: n.Node) -> object:
        self.at(node)
        if isinstance(node, n.DotNode):
            return self.validate_type(dot, kind)
        if isinstance(node, n.NilNode):
            if kind == "any" or kind is None:
                return None
            if kind == "value":
                # Builtins taking reflect.Value receive the zero Value for an untyped nil.
                return NO_VALUE
            raise self.errorf("cannot assign nil to %s", kind)
        if isinstance(node, n.FieldNode):
            return self.validate_type(self.eval_field_node(dot, node, [node], MISSING), kind)
        if isinstance(node, n.VariableNode):
            return self.validate_type(self.eval_variable_node(dot, node, [], MISSING), kind)
        if isinstance(node, n.PipeNode):
            return self.validate_type(self.eval_pipeline(dot, node), kind)
        if isinstance(node, n.IdentifierNode):
            return self.validate_type(self.eval_function(dot, node, node, [], MISSING), kind)
        if isinstance(node, n.ChainNode):
            return self.validate_type(self.eval_chain_node(dot, node, [], MISSING), kind)
        if kind == "string":
            if isinstance(node, n.StringNode):
                return node.text
            raise self.errorf("expected string; found %s", str(node))
        if isinstance(node, n.BoolNode):
            return node.value
        if isinstance(node, n.NumberNode):
            return self.ideal_constant(node)
        if isinstance(node, n.StringNode):
            return node.text
        raise self.errorf("can't handle assignment of %s to empty interface argument", str(node))

    def print_value(self, node: n.Node, value: object) -> None:
        self.at(node)
        self.print_text("<no value>" if value is NO_VALUE else sprint(value))

    def print_text(self, text: str) -> None:
        if self.decisions is not None:
            self.decisions.prints.append((self.size[0], text))
        self.write(text)


def missing_key_error(trees: Mapping[str, Tree], tree: str, node: n.Node, key: str) -> ExecError:
    """Go's error for a missing ``key`` evaluated at ``node`` of template ``tree``, as if
    execution had reached it (validation reports every such site, on any branch)."""
    state = State(trees, trees[tree], [], Limits(), 0.0)
    state.at(node)
    return state.errorf("map has no entry for key %q", key, key=key)


def _range_length(value: object) -> int:
    if isinstance(value, Mapping):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return max(int(value), 0)
    return 0


def _is_hex_int(text: str) -> bool:
    return len(text) > 2 and text[0] == "0" and text[1] in "xX" and not any(c in text for c in "pP")


def execute(
    trees: Mapping[str, Tree],
    name: str,
    data: Root,
    limits: Limits,
    decisions: Decisions | None = None,
) -> str:
    """Run template ``name`` on ``data`` and return its output (recording or replaying
    branch decisions when ``decisions`` is given)."""
    tree = trees[name]
    out: list[str] = []
    state = State(trees, tree, out, limits, time.monotonic() + limits.timeout, decisions=decisions)
    state.vars = [("$", data)]
    if tree.root is None:
        raise ExecError(f"template: {name}: {go_quote(name)} is an incomplete or empty template")
    try:
        state.walk(data, tree.root)
    except RecursionError:
        raise LimitError(f"template: {name}: template nesting too deep to execute") from None
    return "".join(out)


__all__ = [
    "ROOT_TYPE",
    "Decisions",
    "ExecError",
    "LimitError",
    "Limits",
    "ReplayMismatchError",
    "execute",
    "missing_key_error",
]
