"""Lexer of Go's text/template (text/template/parse/lex.go), item for item."""

import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeAlias

LEFT_DELIM = "{{"
RIGHT_DELIM = "}}"
LEFT_COMMENT = "/*"
RIGHT_COMMENT = "*/"
SPACE_CHARS = " \t\r\n"
EOF_CHAR = ""
StateFn: TypeAlias = Callable[[], "StateFn | None"]


class Item(IntEnum):
    """Item types; keywords sort after KEYWORD, as in Go."""

    ERROR = 0
    BOOL = 1
    CHAR = 2
    CHAR_CONSTANT = 3
    COMMENT = 4
    COMPLEX = 5
    ASSIGN = 6
    DECLARE = 7
    EOF = 8
    FIELD = 9
    IDENTIFIER = 10
    LEFT_DELIM = 11
    LEFT_PAREN = 12
    NUMBER = 13
    PIPE = 14
    RAW_STRING = 15
    RIGHT_DELIM = 16
    RIGHT_PAREN = 17
    SPACE = 18
    STRING = 19
    TEXT = 20
    VARIABLE = 21
    KEYWORD = 22
    BLOCK = 23
    BREAK = 24
    CONTINUE = 25
    DOT = 26
    DEFINE = 27
    ELSE = 28
    END = 29
    IF = 30
    NIL = 31
    RANGE = 32
    TEMPLATE = 33
    WITH = 34


KEYWORDS = {
    ".": Item.DOT,
    "block": Item.BLOCK,
    "break": Item.BREAK,
    "continue": Item.CONTINUE,
    "define": Item.DEFINE,
    "else": Item.ELSE,
    "end": Item.END,
    "if": Item.IF,
    "range": Item.RANGE,
    "nil": Item.NIL,
    "template": Item.TEMPLATE,
    "with": Item.WITH,
}


#: Printable ASCII other than ``"`` and ``\\``: kept as is by every quoting below.
_PLAIN_ASCII = re.compile(r"[ !#-\[\]-~]*")
#: Letters, digits and underscores of ASCII: what most field names are made of.
_ASCII_WORD = re.compile(r"[A-Za-z0-9_]*")


def go_quote(text: str) -> str:
    """strconv.Quote: Go's double-quoted form (printable Unicode kept, the rest escaped)."""
    if _PLAIN_ASCII.fullmatch(text):  # nothing to escape: spare the loop over characters
        return f'"{text}"'
    out = ['"']
    for ch in text:
        out.append(_quote_rune(ch, '"', ascii_only=False))
    out.append('"')
    return "".join(out)


_SIMPLE_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
}


def is_go_printable(ch: str) -> bool:
    """unicode.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space."""
    if ch == " ":
        return True
    return unicodedata.category(ch)[0] in "LMNPS"


def _quote_rune(ch: str, quote: str, *, ascii_only: bool) -> str:
    code = ord(ch)
    if ch in (quote, "\\"):
        return "\\" + ch
    if 0xDC80 <= code <= 0xDCFF:  # a raw byte kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if 0xD800 <= code <= 0xDFFF:
        return "\\ufffd"
    if ascii_only:
        if code < 0x80 and is_go_printable(ch):
            return ch
    elif is_go_printable(ch):
        return ch
    if ch in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[ch]
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def go_quote_ascii(text: str) -> str:
    """strconv.QuoteToASCII."""
    return '"' + "".join(_quote_rune(ch, '"', ascii_only=True) for ch in text) + '"'


def go_quote_rune(code: int, *, ascii_only: bool = False) -> str:
    """strconv.QuoteRune (invalid code points become U+FFFD)."""
    if code < 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        code = 0xFFFD
    return "'" + _quote_rune(chr(code), "'", ascii_only=ascii_only) + "'"


def format_u(ch: str) -> str:
    """%#U of a rune: ``U+0029 ')'``."""
    code = ord(ch)
    text = f"U+{code:04X}"
    if is_go_printable(ch):
        text += f" '{ch}'"
    return text


def is_space(ch: str) -> bool:
    """Space characters inside actions (newlines included since Go 1.16)."""
    return ch != "" and ch in SPACE_CHARS


def is_alphanumeric(ch: str) -> bool:
    """Go's isAlphaNumeric: underscore, Unicode letter or decimal digit."""
    if ch == "":
        return False
    return ch == "_" or ch.isalpha() or unicodedata.category(ch) == "Nd"


@dataclass(frozen=True, slots=True)
class Token:
    """One lexed item: type, position (characters from the start), text and line."""

    typ: Item
    pos: int
    val: str
    line: int

    def __str__(self) -> str:
        if self.typ == Item.EOF:
            return "EOF"
        if self.typ == Item.ERROR:
            return self.val
        if self.typ > Item.KEYWORD:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return go_quote(self.val[:10]) + "..."
        return go_quote(self.val)


def _has_left_trim_marker(s: str, i: int) -> bool:
    return len(s) >= i + 2 and s[i] == "-" and is_space(s[i + 1])


def _has_right_trim_marker(s: str, i: int) -> bool:
    return len(s) >= i + 2 and is_space(s[i]) and s[i + 1] == "-"


class LexLimitError(Exception):
    """Lexing stopped at a resource bound (``"time"`` or ``"tokens"``)."""


class Lexer:
    """Produces the whole token list for one template text."""

    def __init__(self, text: str) -> None:
        self.input = text
        self.pos = 0
        self.start = 0
        self.line = 1
        self.start_line = 1
        self.paren_depth = 0
        self.items: list[Token] = []

    def tokens(
        self, *, deadline: float | None = None, max_tokens: int | None = None
    ) -> list[Token]:
        """Lex to the end (or the first error); LexLimitError past the deadline or token cap."""
        state: StateFn | None = self.lex_text
        steps = 0
        while state is not None:
            state = state()
            steps += 1
            if steps & 0x3FF == 0:
                if max_tokens is not None and len(self.items) > max_tokens:
                    raise LexLimitError("tokens")
                if deadline is not None and time.thread_time() > deadline:
                    raise LexLimitError("time")
        return self.items

    # -- primitives ------------------------------------------------------------

    def next(self) -> str:
        if self.pos >= len(self.input):
            self.pos += 1  # so backup() is symmetric at EOF
            return EOF_CHAR
        ch = self.input[self.pos]
        self.pos += 1
        if ch == "\n":
            self.line += 1
        return ch

    def backup(self) -> None:
        self.pos -= 1
        if self.pos < len(self.input) and self.input[self.pos] == "\n":
            self.line -= 1

    def peek(self) -> str:
        ch = self.next()
        self.backup()
        return ch

    def emit(self, typ: Item) -> None:
        self.items.append(
            Token(typ, self.start, self.input[self.start : self.pos], self.start_line)
        )
        self.start = self.pos
        self.start_line = self.line

    def ignore(self) -> None:
        self.line += self.input.count("\n", self.start, self.pos)
        self.start = self.pos
        self.start_line = self.line

    def accept(self, valid: str) -> bool:
        ch = self.next()
        if ch != EOF_CHAR and ch in valid:
            return True
        self.backup()
        return False

    def accept_run(self, valid: str) -> None:
        while True:
            ch = self.next()
            if ch == EOF_CHAR or ch not in valid:
                break
        self.backup()

    def errorf(self, message: str) -> StateFn | None:
        """Emit an error item and stop lexing (Go's errorf returns a nil state)."""
        self.items.append(Token(Item.ERROR, self.start, message, self.start_line))
        return None

    def at_right_delim(self) -> tuple[bool, bool]:
        if _has_right_trim_marker(self.input, self.pos) and self.input.startswith(
            RIGHT_DELIM, self.pos + 2
        ):
            return True, True
        if self.input.startswith(RIGHT_DELIM, self.pos):
            return True, False
        return False, False

    def at_terminator(self) -> bool:
        ch = self.peek()
        if is_space(ch):
            return True
        if ch in (EOF_CHAR, ".", ",", "|", ":", ")", "("):
            return True
        return self.input.startswith(RIGHT_DELIM, self.pos)

    # -- states ------------------------------------------------------------------

    def lex_text(self) -> StateFn | None:
        x = self.input.find(LEFT_DELIM, self.pos)
        if x >= 0:
            self.pos = x
            trim = 0
            if _has_left_trim_marker(self.input, self.pos + len(LEFT_DELIM)):
                segment = self.input[self.start : self.pos]
                trim = len(segment) - len(segment.rstrip(SPACE_CHARS))
            self.pos -= trim
            if self.pos > self.start:
                self.line += self.input.count("\n", self.start, self.pos)
                self.emit(Item.TEXT)
            self.pos += trim
            self.ignore()
            return self.lex_left_delim
        self.pos = len(self.input)
        if self.pos > self.start:
            self.line += self.input.count("\n", self.start, self.pos)
            self.emit(Item.TEXT)
        self.emit(Item.EOF)
        return None

    def lex_left_delim(self) -> StateFn | None:
        self.pos += len(LEFT_DELIM)
        trim = _has_left_trim_marker(self.input, self.pos)
        after = 2 if trim else 0
        if self.input.startswith(LEFT_COMMENT, self.pos + after):
            self.pos += after
            self.ignore()
            return self.lex_comment
        self.emit(Item.LEFT_DELIM)
        self.pos += after
        self.ignore()
        self.paren_depth = 0
        return self.lex_inside_action

    def lex_comment(self) -> StateFn | None:
        self.pos += len(LEFT_COMMENT)
        x = self.input.find(RIGHT_COMMENT, self.pos)
        if x < 0:
            return self.errorf("unclosed comment")
        self.pos = x + len(RIGHT_COMMENT)
        delim, trim = self.at_right_delim()
        if not delim:
            return self.errorf("comment ends before closing delimiter")
        if trim:
            self.pos += 2
        self.pos += len(RIGHT_DELIM)
        if trim:
            rest = self.input[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(SPACE_CHARS))
        self.ignore()
        return self.lex_text

    def lex_right_delim(self) -> StateFn | None:
        trim = _has_right_trim_marker(self.input, self.pos)
        if trim:
            self.pos += 2
            self.ignore()
        self.pos += len(RIGHT_DELIM)
        self.emit(Item.RIGHT_DELIM)
        if trim:
            rest = self.input[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(SPACE_CHARS))
            self.ignore()
        return self.lex_text

    def lex_inside_action(self) -> StateFn | None:
        delim, _ = self.at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self.lex_right_delim
            return self.errorf("unclosed left paren")
        ch = self.next()
        if ch == EOF_CHAR:
            return self.errorf("unclosed action")
        if is_space(ch):
            self.backup()
            return self.lex_space
        if ch == "=":
            self.emit(Item.ASSIGN)
        elif ch == ":":
            if self.next() != "=":
                return self.errorf("expected :=")
            self.emit(Item.DECLARE)
        elif ch == "|":
            self.emit(Item.PIPE)
        elif ch == '"':
            return self.lex_quote
        elif ch == "`":
            return self.lex_raw_quote
        elif ch == "$":
            return self.lex_variable
        elif ch == "'":
            return self.lex_char
        elif ch == "." and self.pos < len(self.input) and not "0" <= self.input[self.pos] <= "9":
            return self.lex_field
        elif ch in "+-." or "0" <= ch <= "9":
            self.backup()
            return self.lex_number
        elif is_alphanumeric(ch):
            self.backup()
            return self.lex_identifier
        elif ch == "(":
            self.emit(Item.LEFT_PAREN)
            self.paren_depth += 1
        elif ch == ")":
            self.emit(Item.RIGHT_PAREN)
            self.paren_depth -= 1
            if self.paren_depth < 0:
                return self.errorf(f"unexpected right paren {format_u(ch)}")
        elif ord(ch) < 0x80 and is_go_printable(ch):
            self.emit(Item.CHAR)
        else:
            return self.errorf(f"unrecognized character in action: {format_u(ch)}")
        return self.lex_inside_action

    def lex_space(self) -> StateFn | None:
        spaces = 0
        while is_space(self.peek()):
            self.next()
            spaces += 1
        if _has_right_trim_marker(self.input, self.pos - 1) and self.input.startswith(
            RIGHT_DELIM, self.pos + 1
        ):
            self.backup()
            if spaces == 1:
                return self.lex_right_delim
        self.emit(Item.SPACE)
        return self.lex_inside_action

    def lex_identifier(self) -> StateFn | None:
        while True:
            ch = self.next()
            if is_alphanumeric(ch):
                continue
            self.backup()
            word = self.input[self.start : self.pos]
            if not self.at_terminator():
                return self.errorf(f"bad character {format_u(ch)}")
            keyword = KEYWORDS.get(word)
            if keyword is not None and keyword > Item.KEYWORD:
                self.emit(keyword)
            elif word[0] == ".":
                self.emit(Item.FIELD)
            elif word in ("true", "false"):
                self.emit(Item.BOOL)
            else:
                self.emit(Item.IDENTIFIER)
            return self.lex_inside_action

    def lex_field(self) -> StateFn | None:
        return self._lex_field_or_variable(Item.FIELD)

    def lex_variable(self) -> StateFn | None:
        if self.at_terminator():
            self.emit(Item.VARIABLE)
            return self.lex_inside_action
        return self._lex_field_or_variable(Item.VARIABLE)

    def _lex_field_or_variable(self, typ: Item) -> StateFn | None:
        if self.at_terminator():
            self.emit(Item.VARIABLE if typ == Item.VARIABLE else Item.DOT)
            return self.lex_inside_action
        # The ASCII part of the name at C speed (no newline in it), then Go's rule per rune.
        self.pos = _ASCII_WORD.match(self.input, self.pos).end()  # type: ignore[union-attr]
        while True:
            ch = self.next()
            if not is_alphanumeric(ch):
                self.backup()
                break
        if not self.at_terminator():
            return self.errorf(f"bad character {format_u(ch)}")
        self.emit(typ)
        return self.lex_inside_action

    def _scan_quoted(self, quote: str) -> bool:
        """Consume up to the closing ``quote`` honouring escapes; False if unterminated."""
        while True:
            ch = self.next()
            if ch == "\\":
                if self.next() not in (EOF_CHAR, "\n"):
                    continue
                return False
            if ch in (EOF_CHAR, "\n"):
                return False
            if ch == quote:
                return True

    def lex_char(self) -> StateFn | None:
        if not self._scan_quoted("'"):
            return self.errorf("unterminated character constant")
        self.emit(Item.CHAR_CONSTANT)
        return self.lex_inside_action

    def lex_number(self) -> StateFn | None:
        if not self._scan_number():
            return self.errorf(f"bad number syntax: {go_quote(self.input[self.start : self.pos])}")
        if self.peek() in ("+", "-"):
            if not self._scan_number() or self.input[self.pos - 1] != "i":
                return self.errorf(
                    f"bad number syntax: {go_quote(self.input[self.start : self.pos])}"
                )
            self.emit(Item.COMPLEX)
        else:
            self.emit(Item.NUMBER)
        return self.lex_inside_action

    def _scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 11 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if len(digits) == 23 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if is_alphanumeric(self.peek()):
            self.next()
            return False
        return True

    def lex_quote(self) -> StateFn | None:
        if not self._scan_quoted('"'):
            return self.errorf("unterminated quoted string")
        self.emit(Item.STRING)
        return self.lex_inside_action

    def lex_raw_quote(self) -> StateFn | None:
        while True:
            ch = self.next()
            if ch == EOF_CHAR:
                return self.errorf("unterminated raw quoted string")
            if ch == "`":
                break
        self.emit(Item.RAW_STRING)
        return self.lex_inside_action
