"""Parser of Go's text/template (text/template/parse/parse.go), with Go's error messages."""

import re
import time
from bisect import bisect_right
from dataclasses import dataclass, field

from sigil_renderer.template import nodes as n
from sigil_renderer.template.gofmt import errorf
from sigil_renderer.template.lexer import Item, Lexer, LexLimitError, Token, go_quote
from sigil_renderer.template.numbers import (
    MAX_INT64,
    MAX_UINT64,
    MIN_INT64,
    parse_float,
    parse_int,
)

BUILTINS = frozenset(
    {
        "and",
        "call",
        "html",
        "index",
        "slice",
        "js",
        "len",
        "not",
        "or",
        "print",
        "printf",
        "println",
        "urlquery",
        "eq",
        "ge",
        "gt",
        "le",
        "lt",
        "ne",
    }
)
MAX_PARSE_DEPTH = 200


class ParseError(Exception):
    """A parse error; ``str`` is Go's ``err.Error()``."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


class ParseLimitError(ParseError):
    """Parsing stopped at a resource bound (time or size); not one of Go's messages."""


class TextIndex:
    """Line and byte-column of a character offset in one template text, in time independent
    of the text's size: the line starts are found once (bisected per lookup), and the UTF-8
    length of the text before every ``_CHUNK``-th character is recorded once, so a column
    encodes at most one chunk. Built on first use and shared by every tree of the text."""

    _CHUNK = 4096

    def __init__(self, text: str) -> None:
        self._text = text
        self._starts: list[int] | None = None
        self._bytes: list[int] | None = None
        self._ascii = text.isascii()

    def _line_starts(self) -> list[int]:
        if self._starts is None:
            self._starts = [0] + [m.end() for m in _NEWLINE.finditer(self._text)]
        return self._starts

    def _byte_offset(self, pos: int) -> int:
        """UTF-8 bytes (Go's ``surrogateescape`` view) of ``text[:pos]``."""
        if self._ascii:
            return pos
        text, chunk = self._text, self._CHUNK
        if self._bytes is None:
            offsets, total = [0], 0
            for at in range(0, len(text), chunk):
                total += _utf8_len(text[at : at + chunk])
                offsets.append(total)
            self._bytes = offsets
        base = pos // chunk
        return self._bytes[base] + _utf8_len(text[base * chunk : pos])

    def location(self, pos: int) -> tuple[int, int]:
        """1-based line and the 0-based byte column of ``pos`` (as Go's ErrorContext)."""
        starts = self._line_starts()
        line = bisect_right(starts, pos)
        return line, self._byte_offset(pos) - self._byte_offset(starts[line - 1])


_NEWLINE = re.compile("\n")


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


@dataclass
class Tree:
    """One named template: its root list and where its text came from."""

    name: str
    parse_name: str
    text: str
    root: n.ListNode | None = None
    #: Where offsets of ``text`` sit (line, column); shared by the trees of one text.
    index: TextIndex | None = field(default=None, compare=False, repr=False)

    def location(self, pos: int) -> tuple[int, int]:
        """Line and byte column of character offset ``pos`` of ``text``."""
        if self.index is None:
            self.index = TextIndex(self.text)
        return self.index.location(pos)


@dataclass
class _State:
    """What one parse shares across nested define/block trees."""

    text: str
    parse_name: str
    tokens: list[Token]
    index: int = 0
    furthest: int = 0
    trees: dict[str, Tree] = field(default_factory=dict)
    deadline: float | None = None
    timeout: float = 0.0
    steps: int = 0
    text_index: TextIndex = field(init=False)

    def __post_init__(self) -> None:
        self.text_index = TextIndex(self.text)


def unquote(token: Token) -> str:
    """strconv.Unquote of a string or raw-string token."""
    raw = token.val
    if token.typ == Item.RAW_STRING:
        return raw[1:-1]
    body = raw[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        value, i = _unquote_escape(body, i + 1, '"')
        out.append(value)
    return "".join(out)


_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def _unquote_escape(body: str, i: int, quote: str) -> tuple[str, int]:
    """One escape after a backslash; raises ValueError('invalid syntax') like Go."""
    if i >= len(body):
        raise ValueError("invalid syntax")
    ch = body[i]
    if ch in _SIMPLE:
        return _SIMPLE[ch], i + 1
    if ch == quote:
        return ch, i + 1
    sizes = {"x": 2, "u": 4, "U": 8}
    if ch in sizes:
        digits = body[i + 1 : i + 1 + sizes[ch]]
        if len(digits) != sizes[ch] or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise ValueError("invalid syntax")
        code = int(digits, 16)
        if ch == "x":
            return (chr(code) if code < 0x80 else _raw_byte(code)), i + 3
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise ValueError("invalid syntax")
        return chr(code), i + 1 + sizes[ch]
    if "0" <= ch <= "7":
        digits = body[i : i + 3]
        if len(digits) != 3 or any(c not in "01234567" for c in digits):
            raise ValueError("invalid syntax")
        code = int(digits, 8)
        if code > 255:
            raise ValueError("invalid syntax")
        return (chr(code) if code < 0x80 else _raw_byte(code)), i + 3
    raise ValueError("invalid syntax")


def _raw_byte(code: int) -> str:
    # A lone byte >= 0x80 is not valid UTF-8 on its own; Go keeps the byte. We keep it as
    # a surrogate escape so it round-trips to the same byte when encoded.
    return bytes([code]).decode("utf-8", "surrogateescape")


class Parser:
    """Parses one template text into a set of named trees."""

    def __init__(self, state: _State, tree: Tree) -> None:
        self.s = state
        self.tree = tree
        self.vars: list[str] = ["$"]
        self.action_line = 0
        self.range_depth = 0
        self.depth = 0

    # -- token stream -----------------------------------------------------------

    def next(self) -> Token:
        self.s.steps += 1
        deadline = self.s.deadline
        if self.s.steps & 0xFFF == 0 and deadline is not None and time.thread_time() > deadline:
            raise ParseLimitError(
                f"template: {self.s.parse_name}: parsing took longer than {self.s.timeout:g}s",
                None,
            )
        index = min(self.s.index, len(self.s.tokens) - 1)
        tok = self.s.tokens[index]
        self.s.furthest = max(self.s.furthest, index)
        self.s.index += 1
        return tok

    def backup(self, count: int = 1) -> None:
        self.s.index -= count

    def peek(self) -> Token:
        return self.s.tokens[min(self.s.index, len(self.s.tokens) - 1)]

    def next_non_space(self) -> Token:
        while True:
            tok = self.next()
            if tok.typ != Item.SPACE:
                return tok

    def peek_non_space(self) -> Token:
        tok = self.next_non_space()
        self.backup()
        return tok

    # -- errors -----------------------------------------------------------------

    def errorf(self, fmt: str, *args: object, line: int | None = None) -> None:
        # Go splices the parse name into the format unescaped (a "%" in it takes an argument).
        tok_line = line if line is not None else self._current_line()
        raise ParseError(
            errorf(f"template: {self.s.parse_name}:{tok_line}: {fmt}", *args), tok_line
        )

    def _current_line(self) -> int:
        # Go reports the line of the furthest token read so far (t.token[0]).
        return self.s.tokens[self.s.furthest].line

    def unexpected(self, token: Token, context: str) -> None:
        if token.typ == Item.ERROR:
            extra = ""
            if self.action_line not in (0, token.line):
                extra = f" in action started at {self.s.parse_name}:{self.action_line}"
                if token.val.endswith(" action"):
                    extra = extra[len(" in action") :]
            self.errorf("%s%s", str(token), extra, line=token.line)
        self.errorf("unexpected %s in %s", str(token), context, line=token.line)

    def expect(self, expected: Item, context: str) -> Token:
        token = self.next_non_space()
        if token.typ != expected:
            self.unexpected(token, context)
        return token

    # -- structure ----------------------------------------------------------------

    def parse(self) -> None:
        self.tree.root = n.ListNode(self.peek().pos)
        while self.peek().typ != Item.EOF:
            if self.peek().typ == Item.LEFT_DELIM:
                start = self.s.index
                self.next()
                if self.next_non_space().typ == Item.DEFINE:
                    child = Parser(
                        self.s,
                        Tree("definition", self.s.parse_name, self.s.text, index=self.s.text_index),
                    )
                    child.parse_definition()
                    continue
                self.s.index = start
            node = self.text_or_action()
            if isinstance(node, (n.EndNode, n.ElseNode)):
                self.errorf("unexpected %s", str(node))
            self.tree.root.nodes.append(node)
        self.add()

    def add(self) -> None:
        existing = self.s.trees.get(self.tree.name)
        if existing is None or _is_empty(existing.root):
            self.s.trees[self.tree.name] = self.tree
            return
        if not _is_empty(self.tree.root):
            self.errorf("template: multiple definition of template %q", self.tree.name)

    def parse_definition(self) -> None:
        context = "define clause"
        token = self.next_non_space()
        if token.typ not in (Item.STRING, Item.RAW_STRING):
            self.unexpected(token, context)
        self.tree.name = self._unquote(token)
        self.expect(Item.RIGHT_DELIM, context)
        self.tree.root, end = self.item_list()
        if not isinstance(end, n.EndNode):
            self.errorf("unexpected %s in %s", str(end), context)
        self.add()

    def _unquote(self, token: Token) -> str:
        try:
            return unquote(token)
        except ValueError as err:
            self.errorf("%s", str(err), line=token.line)
        raise AssertionError  # pragma: no cover

    def item_list(self) -> tuple[n.ListNode, n.Node]:
        lst = n.ListNode(self.peek_non_space().pos)
        while self.peek_non_space().typ != Item.EOF:
            node = self.text_or_action()
            if isinstance(node, (n.EndNode, n.ElseNode)):
                return lst, node
            lst.nodes.append(node)
        self.errorf("unexpected EOF")
        raise AssertionError  # pragma: no cover

    def text_or_action(self) -> n.Node:
        token = self.next_non_space()
        if token.typ == Item.TEXT:
            return n.TextNode(token.pos, token.val)
        if token.typ == Item.LEFT_DELIM:
            self.action_line = token.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        if token.typ == Item.COMMENT:
            return n.CommentNode(token.pos, token.val)
        self.unexpected(token, "input")
        raise AssertionError  # pragma: no cover

    def action(self) -> n.Node:
        token = self.next_non_space()
        if token.typ == Item.BLOCK:
            return self.block_control()
        if token.typ == Item.BREAK:
            return self.break_control(token, "break")
        if token.typ == Item.CONTINUE:
            return self.break_control(token, "continue")
        if token.typ == Item.ELSE:
            return self.else_control()
        if token.typ == Item.END:
            return n.EndNode(self.expect(Item.RIGHT_DELIM, "end").pos)
        if token.typ == Item.IF:
            return self.branch(n.IfNode, "if")
        if token.typ == Item.RANGE:
            return self.branch(n.RangeNode, "range")
        if token.typ == Item.TEMPLATE:
            return self.template_control()
        if token.typ == Item.WITH:
            return self.branch(n.WithNode, "with")
        self.backup()
        token = self.peek()
        return n.ActionNode(token.pos, token.line, self.pipeline("command", Item.RIGHT_DELIM))

    def break_control(self, token: Token, word: str) -> n.Node:
        nxt = self.next_non_space()
        if nxt.typ != Item.RIGHT_DELIM:
            self.unexpected(nxt, "{{" + word + "}}")
        if self.range_depth == 0:
            self.errorf("{{" + word + "}} outside {{range}}")
        if word == "break":
            return n.BreakNode(token.pos, token.line)
        return n.ContinueNode(token.pos, token.line)

    def else_control(self) -> n.Node:
        peek = self.peek_non_space()
        if peek.typ in (Item.IF, Item.WITH):
            return n.ElseNode(peek.pos, peek.line)
        token = self.expect(Item.RIGHT_DELIM, "else")
        return n.ElseNode(token.pos, token.line)

    def branch(self, cls: type[n.BranchNode], context: str) -> n.BranchNode:
        self.depth += 1
        if self.depth > MAX_PARSE_DEPTH:
            self.errorf("template nesting deeper than %d", MAX_PARSE_DEPTH)
        mark = len(self.vars)
        try:
            pipe = self.pipeline(context, Item.RIGHT_DELIM)
            if context == "range":
                self.range_depth += 1
            lst, nxt = self.item_list()
            if context == "range":
                self.range_depth -= 1
            else_list = None
            if isinstance(nxt, n.ElseNode):
                if context in ("if", "with") and self.peek().typ == (
                    Item.IF if context == "if" else Item.WITH
                ):
                    self.next()
                    else_list = n.ListNode(nxt.pos)
                    else_list.nodes.append(self.branch(cls, context))
                else:
                    else_list, nxt = self.item_list()
                    if not isinstance(nxt, n.EndNode):
                        self.errorf("expected end; found %s", str(nxt))
            return cls(pipe.pos, pipe.line, pipe, lst, else_list, context)
        finally:
            del self.vars[mark:]
            self.depth -= 1

    def template_control(self) -> n.Node:
        context = "template clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe = None
        if self.next_non_space().typ != Item.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, Item.RIGHT_DELIM)
        return n.TemplateNode(token.pos, token.line, name, pipe)

    def template_name(self, token: Token, context: str) -> str:
        if token.typ not in (Item.STRING, Item.RAW_STRING):
            self.unexpected(token, context)
        return self._unquote(token)

    def block_control(self) -> n.Node:
        context = "block clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe = self.pipeline(context, Item.RIGHT_DELIM)
        child = Parser(self.s, Tree(name, self.s.parse_name, self.s.text, index=self.s.text_index))
        child.tree.root, end = child.item_list()
        if not isinstance(end, n.EndNode):
            self.errorf("unexpected %s in %s", str(end), context)
        child.add()
        return n.TemplateNode(token.pos, token.line, name, pipe)

    # -- pipelines --------------------------------------------------------------

    def pipeline(self, context: str, end: Item) -> n.PipeNode:
        token = self.peek_non_space()
        pipe = n.PipeNode(token.pos, token.line)
        while True:  # declarations (goto decls in Go)
            v = self.peek_non_space()
            if v.typ != Item.VARIABLE:
                break
            start_index = self.s.index
            self.next_non_space()
            nxt = self.peek_non_space()
            if nxt.typ in (Item.ASSIGN, Item.DECLARE):
                pipe.is_assign = nxt.typ == Item.ASSIGN
                self.next_non_space()
                pipe.decl.append(n.VariableNode(v.pos, [v.val]))
                self.vars.append(v.val)
                break
            if nxt.typ == Item.CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(n.VariableNode(v.pos, [v.val]))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (
                        Item.VARIABLE,
                        Item.RIGHT_DELIM,
                        Item.RIGHT_PAREN,
                    ):
                        continue
                    self.errorf("range can only initialize variables")
                self.errorf("too many declarations in %s", context)
            self.s.index = start_index
            break
        while True:
            token = self.next_non_space()
            if token.typ == end:
                self.check_pipeline(pipe, context)
                return pipe
            if token.typ in (
                Item.BOOL,
                Item.CHAR_CONSTANT,
                Item.COMPLEX,
                Item.DOT,
                Item.FIELD,
                Item.IDENTIFIER,
                Item.NUMBER,
                Item.NIL,
                Item.RAW_STRING,
                Item.STRING,
                Item.VARIABLE,
                Item.LEFT_PAREN,
            ):
                self.backup()
                pipe.cmds.append(self.command())
            else:
                self.unexpected(token, context)

    def check_pipeline(self, pipe: n.PipeNode, context: str) -> None:
        if not pipe.cmds:
            self.errorf("missing value for %s", context)
        for i, cmd in enumerate(pipe.cmds[1:]):
            if isinstance(
                cmd.args[0], (n.BoolNode, n.DotNode, n.NilNode, n.NumberNode, n.StringNode)
            ):
                self.errorf("non executable command in pipeline stage %d", i + 2)

    def command(self) -> n.CommandNode:
        cmd = n.CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.typ == Item.SPACE:
                continue
            if token.typ in (Item.RIGHT_DELIM, Item.RIGHT_PAREN):
                self.backup()
            elif token.typ != Item.PIPE:
                self.unexpected(token, "operand")
            break
        if not cmd.args:
            self.errorf("empty command")
        return cmd

    def operand(self) -> n.Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == Item.FIELD:
            chain = n.ChainNode(self.peek().pos, node)
            while self.peek().typ == Item.FIELD:
                chain.fields.append(self.next().val[1:])
            if isinstance(node, n.FieldNode):
                return n.FieldNode(chain.pos, [*node.ident, *chain.fields])
            if isinstance(node, n.VariableNode):
                return n.VariableNode(chain.pos, [*node.ident, *chain.fields])
            if isinstance(node, (n.BoolNode, n.StringNode, n.NumberNode, n.NilNode, n.DotNode)):
                self.errorf("unexpected . after term %q", str(node))
            return chain
        return node

    def term(self) -> n.Node | None:
        token = self.next_non_space()
        typ = token.typ
        if typ == Item.IDENTIFIER:
            if token.val not in BUILTINS:
                self.errorf("function %q not defined", token.val)
            return n.IdentifierNode(token.pos, token.val)
        if typ == Item.DOT:
            return n.DotNode(token.pos)
        if typ == Item.NIL:
            return n.NilNode(token.pos)
        if typ == Item.VARIABLE:
            return self.use_var(token)
        if typ == Item.FIELD:
            return n.FieldNode(token.pos, [token.val[1:]])
        if typ == Item.BOOL:
            return n.BoolNode(token.pos, token.val == "true")
        if typ in (Item.CHAR_CONSTANT, Item.COMPLEX, Item.NUMBER):
            return self.number(token)
        if typ == Item.LEFT_PAREN:
            self.depth += 1
            if self.depth > MAX_PARSE_DEPTH:
                self.errorf("template nesting deeper than %d", MAX_PARSE_DEPTH)
            try:
                return self.pipeline("parenthesized pipeline", Item.RIGHT_PAREN)
            finally:
                self.depth -= 1
        if typ in (Item.STRING, Item.RAW_STRING):
            return n.StringNode(token.pos, token.val, self._unquote(token))
        self.backup()
        return None

    def use_var(self, token: Token) -> n.VariableNode:
        name = token.val
        if name not in self.vars:
            self.errorf("undefined variable %q", name)
        return n.VariableNode(token.pos, [name])

    def number(self, token: Token) -> n.NumberNode:
        try:
            return new_number(token)
        except ValueError as err:
            self.errorf("%s", str(err), line=token.line)
        raise AssertionError  # pragma: no cover


def new_number(token: Token) -> n.NumberNode:
    """parse.newNumber: classify a numeric constant as Go does."""
    text = token.val
    node = n.NumberNode(token.pos, text)
    if token.typ == Item.CHAR_CONSTANT:
        body = text[1:]
        if body.startswith("\\"):
            value, end = _unquote_escape(body, 1, "'")
            if len(value) != 1:
                raise ValueError("invalid syntax")
        elif body[0] == "'":
            raise ValueError("invalid syntax")
        else:
            value, end = body[0], 1
        if body[end:] != "'":
            raise ValueError(f"malformed character constant: {text}")
        code = ord(value) if not (0xDC80 <= ord(value) <= 0xDCFF) else ord(value) - 0xDC00
        node.is_int = node.is_uint = node.is_float = True
        node.int_value = code
        node.float_value = float(code)
        return node
    if token.typ == Item.COMPLEX:
        real_text, sep, imag_text = _split_complex(text)
        real, imag = parse_float(real_text), parse_float(sep + imag_text[:-1])
        if real is None or imag is None:
            raise ValueError("expected integer")
        node.is_complex = True
        node.complex_value = complex(real, imag)
        _simplify_complex(node)
        return node
    if text.endswith("i"):
        imag = parse_float(text[:-1])
        if imag is not None:
            node.is_complex = True
            node.complex_value = complex(0, imag)
            _simplify_complex(node)
            return node
    as_int = parse_int(text)
    if as_int is not None:
        if 0 <= as_int <= MAX_UINT64 and not text.startswith(("-", "+")):
            node.is_uint = True
        if MIN_INT64 <= as_int <= MAX_INT64:
            node.is_int = True
            node.int_value = as_int
            if as_int == 0:
                node.is_uint = True
    if node.is_int:
        node.is_float = True
        node.float_value = float(node.int_value)
    elif node.is_uint:
        node.is_float = True
        node.float_value = float(as_int or 0)
        node.int_value = as_int or 0
    else:
        parsed = parse_float(text)
        if parsed is not None:
            if not any(c in text for c in ".eEpP"):
                raise ValueError(f"integer overflow: {go_quote(text)}")
            node.is_float = True
            node.float_value = parsed
            if parsed.is_integer() and MIN_INT64 <= parsed <= MAX_INT64:
                node.is_int = True
                node.int_value = int(parsed)
            if parsed.is_integer() and 0 <= parsed <= MAX_UINT64:
                node.is_uint = True
    if not (node.is_int or node.is_uint or node.is_float):
        raise ValueError(f"illegal number syntax: {go_quote(text)}")
    return node


def _split_complex(text: str) -> tuple[str, str, str]:
    for i in range(len(text) - 1, 0, -1):
        if text[i] in "+-" and text[i - 1] not in "eEpP":
            return text[:i], text[i], text[i + 1 :]
    return text, "+", "0i"


def _simplify_complex(node: n.NumberNode) -> None:
    if node.complex_value.imag == 0:
        node.is_float = True
        node.float_value = node.complex_value.real
        if node.float_value.is_integer() and MIN_INT64 <= node.float_value <= MAX_INT64:
            node.is_int = True
            node.int_value = int(node.float_value)
        if node.float_value.is_integer() and 0 <= node.float_value <= MAX_UINT64:
            node.is_uint = True


def _is_empty(node: n.Node | None) -> bool:
    if node is None:
        return True
    if isinstance(node, n.ListNode):
        return all(_is_empty(child) for child in node.nodes)
    if isinstance(node, n.TextNode):
        return not node.text.strip(" \t\n\r\v\f")
    return isinstance(node, n.CommentNode)


def parse_trees(
    text: str, name: str, *, timeout: float | None = None, max_tokens: int | None = None
) -> dict[str, Tree]:
    """Parse ``text`` as template ``name``; returns every tree it defines.

    ``timeout`` (seconds, lexing and parsing together) and ``max_tokens`` bound hostile
    input: past either, ParseLimitError.
    """
    # CPU time of this thread: the bound is the work done, not the machine's load.
    deadline = time.thread_time() + timeout if timeout is not None else None
    try:
        tokens = Lexer(text).tokens(deadline=deadline, max_tokens=max_tokens)
    except LexLimitError as err:
        if str(err) == "tokens":
            msg = f"template: {name}: template has more than {max_tokens} tokens"
        else:
            msg = f"template: {name}: parsing took longer than {timeout:g}s"
        raise ParseLimitError(msg, None) from None
    state = _State(
        text=text, parse_name=name, tokens=tokens, deadline=deadline, timeout=timeout or 0.0
    )
    parser = Parser(state, Tree(name, name, text, index=state.text_index))
    parser.parse()
    return state.trees
