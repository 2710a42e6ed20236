"""Go's fmt.Sprint, Sprintln and Sprintf for the values a template can hold."""

import math
from collections.abc import Mapping
from dataclasses import dataclass

from sigil_renderer.template.lexer import (
    go_quote,
    go_quote_ascii,
    go_quote_rune,
    is_go_printable,
)
from sigil_renderer.template.values import (
    NO_VALUE,
    ROOT_TYPE,
    Root,
    Uint8,
    format_float,
    type_name,
)

MAX_WIDTH = 1_000_000


@dataclass
class _Flags:
    plus: bool = False
    minus: bool = False
    sharp: bool = False
    space: bool = False
    zero: bool = False
    plus_v: bool = False
    sharp_v: bool = False
    wid: int = 0
    wid_present: bool = False
    prec: int = 0
    prec_present: bool = False


def _is_string(value: object) -> bool:
    return isinstance(value, str)


def sprint(*args: object) -> str:
    """fmt.Sprint: spaces between operands when neither side is a string."""
    out: list[str] = []
    prev_string = False
    for i, arg in enumerate(args):
        is_string = _is_string(arg)
        if i > 0 and not is_string and not prev_string:
            out.append(" ")
        out.append(_Printer().format_arg(arg, "v"))
        prev_string = is_string
    return "".join(out)


def sprintln(*args: object) -> str:
    """fmt.Sprintln: always spaces between operands, then a newline."""
    return " ".join(_Printer().format_arg(a, "v") for a in args) + "\n"


def sprintf(fmt: str, *args: object) -> str:
    """fmt.Sprintf."""
    return _Printer().printf(fmt, args)


class WrappedError(str):
    """An error operand: what ``%w`` of fmt.Errorf accepts (any other operand is a bad verb)."""

    __slots__ = ()


def errorf(fmt: str, *args: object) -> str:
    """fmt.Errorf(...).Error(): like Sprintf, with ``%w`` printing its operand as ``%v``."""
    printer = _Printer()
    printer.wrap_errors = True
    return printer.printf(fmt, args)


def double_percent(text: str) -> str:
    """text/template's doublePercent: protect a name spliced into a format string."""
    return text.replace("%", "%%")


class _Printer:
    def __init__(self) -> None:
        self.f = _Flags()
        self.wrap_errors = False
        self.buf: list[str] = []

    # -- padding ---------------------------------------------------------------

    def pad(self, text: str) -> str:
        f = self.f
        if not f.wid_present or f.wid == 0:
            return text
        width = f.wid - len(text)
        if width <= 0:
            return text
        if f.minus:
            return text + " " * width
        return ("0" if f.zero else " ") * width + text

    # -- entry points ----------------------------------------------------------

    def format_arg(self, arg: object, verb: str) -> str:
        self.buf = []
        self.print_arg(arg, verb)
        return "".join(self.buf)

    def printf(self, fmt: str, args: tuple[object, ...]) -> str:
        end = len(fmt)
        arg_num = 0
        i = 0
        reordered = False
        while i < end:
            lasti = i
            while i < end and fmt[i] != "%":
                i += 1
            if i > lasti:
                self.buf.append(fmt[lasti:i])
            if i >= end:
                break
            i += 1
            self.f = _Flags()
            while i < end:
                c = fmt[i]
                if c == "#":
                    self.f.sharp = True
                elif c == "0":
                    self.f.zero = not self.f.minus
                elif c == "+":
                    self.f.plus = True
                elif c == "-":
                    self.f.minus = True
                    self.f.zero = False
                elif c == " ":
                    self.f.space = True
                else:
                    break
                i += 1
            good_arg_num = True
            arg_num, i, after_index, good, moved = _arg_number(arg_num, fmt, i, len(args))
            good_arg_num &= good
            reordered |= moved
            if i < end and fmt[i] == "*":
                i += 1
                self.f.wid, self.f.wid_present, arg_num = _int_from_arg(args, arg_num)
                if not self.f.wid_present:
                    self.buf.append("%!(BADWIDTH)")
                if self.f.wid < 0:
                    self.f.wid = -self.f.wid
                    self.f.minus = True
                    self.f.zero = False
                after_index = False
            else:
                self.f.wid, self.f.wid_present, i = _parse_num(fmt, i, end)
                if after_index and self.f.wid_present:
                    good_arg_num = False
            if i + 1 <= end - 1 + 1 and i < end and fmt[i] == ".":
                i += 1
                if after_index:
                    good_arg_num = False
                arg_num, i, after_index, good, moved = _arg_number(arg_num, fmt, i, len(args))
                good_arg_num &= good
                reordered |= moved
                if i < end and fmt[i] == "*":
                    i += 1
                    self.f.prec, self.f.prec_present, arg_num = _int_from_arg(args, arg_num)
                    if self.f.prec < 0:
                        self.f.prec = 0
                        self.f.prec_present = False
                    if not self.f.prec_present:
                        self.buf.append("%!(BADPREC)")
                    after_index = False
                else:
                    self.f.prec, self.f.prec_present, i = _parse_num(fmt, i, end)
                    if not self.f.prec_present:
                        self.f.prec = 0
                        self.f.prec_present = True
            if not after_index:
                arg_num, i, after_index, good, moved = _arg_number(arg_num, fmt, i, len(args))
                good_arg_num &= good
                reordered |= moved
            if i >= end:
                self.buf.append("%!(NOVERB)")
                break
            verb = fmt[i]
            i += 1
            if verb == "%":
                self.buf.append("%")
            elif not good_arg_num:
                self.buf.append(f"%!{verb}(BADINDEX)")
            elif arg_num >= len(args):
                self.buf.append(f"%!{verb}(MISSING)")
            else:
                if verb == "v":
                    self.f.sharp_v = self.f.sharp
                    self.f.sharp = False
                    self.f.plus_v = self.f.plus
                    self.f.plus = False
                if verb == "w" and self.wrap_errors and isinstance(args[arg_num], WrappedError):
                    verb = "v"
                self.print_arg(args[arg_num], verb)
                arg_num += 1
        if not reordered and arg_num < len(args):
            self.f = _Flags()
            self.buf.append("%!(EXTRA ")
            for j, arg in enumerate(args[arg_num:]):
                if j > 0:
                    self.buf.append(", ")
                if arg is None:
                    self.buf.append("<nil>")
                else:
                    self.buf.append(type_name(arg) + "=")
                    self.print_arg(arg, "v")
            self.buf.append(")")
        return "".join(self.buf)

    # -- one argument ----------------------------------------------------------

    def bad_verb(self, verb: str, value: object) -> None:
        self.buf.append(f"%!{verb}(")
        if value is None:
            self.buf.append("<nil>")
        else:
            # Go prints the operand with the verb's own flags (width, precision, sign).
            self.buf.append(type_name(value) + "=")
            self.print_arg(value, "v")
        self.buf.append(")")

    def print_arg(self, arg: object, verb: str) -> None:
        if arg is None or arg is NO_VALUE:
            if verb in ("T", "v"):
                self.buf.append(self.pad("<nil>"))
            else:
                self.bad_verb(verb, None)
            return
        if verb == "T":
            self.buf.append(self.fmt_s(type_name(arg)))
            return
        if isinstance(arg, bool):
            if verb in ("t", "v"):
                self.buf.append(self.pad("true" if arg else "false"))
            else:
                self.bad_verb(verb, arg)
            return
        if isinstance(arg, int):
            self.fmt_integer(arg, verb)
            return
        if isinstance(arg, float):
            self.fmt_float(arg, verb)
            return
        if isinstance(arg, complex):
            self.fmt_complex(arg, verb)
            return
        if isinstance(arg, str):
            self.fmt_string(arg, verb)
            return
        if isinstance(arg, Mapping):
            self.print_map(arg, verb)
            return
        if isinstance(arg, Root):
            if self.f.sharp_v:
                self.buf.append(ROOT_TYPE)
            self.buf.append("{")
            if self.f.plus_v or self.f.sharp_v:
                self.buf.append("Secrets:")
            self.print_map(arg.secrets, verb)
            self.buf.append("}")
            return
        self.buf.append(self.pad(str(arg)))

    def print_map(self, value: Mapping[str, str], verb: str) -> None:
        if self.f.sharp_v:
            self.buf.append("map[string]string{")
        else:
            self.buf.append("map[")
        for i, key in enumerate(sorted(value)):
            if i > 0:
                self.buf.append(", " if self.f.sharp_v else " ")
            self.fmt_string(key, verb)
            self.buf.append(":")
            self.fmt_string(value[key], verb)
        self.buf.append("}" if self.f.sharp_v else "]")

    # -- strings ----------------------------------------------------------------

    def truncate(self, text: str) -> str:
        if self.f.prec_present:
            return text[: self.f.prec]
        return text

    def fmt_s(self, text: str) -> str:
        return self.pad(self.truncate(text))

    def fmt_string(self, text: str, verb: str) -> None:
        if verb == "v":
            self.buf.append(self.fmt_q(text) if self.f.sharp_v else self.fmt_s(text))
        elif verb == "s":
            self.buf.append(self.fmt_s(text))
        elif verb in ("x", "X"):
            self.buf.append(self.fmt_sx(text.encode("utf-8", "surrogateescape"), verb))
        elif verb == "q":
            self.buf.append(self.fmt_q(text))
        else:
            self.bad_verb(verb, text)

    def fmt_q(self, text: str) -> str:
        text = self.truncate(text)
        if self.f.sharp and _can_backquote(text):
            return self.pad("`" + text + "`")
        if self.f.plus:
            return self.pad(go_quote_ascii(text))
        return self.pad(go_quote(text))

    def fmt_sx(self, data: bytes, verb: str) -> str:
        digits = "0123456789abcdef" if verb == "x" else "0123456789ABCDEF"
        length = len(data)
        if self.f.prec_present and self.f.prec < length:
            length = self.f.prec
        if length <= 0:
            return self.pad("")
        out: list[str] = []
        if self.f.sharp:
            out.append("0x" if verb == "x" else "0X")
        for i, byte in enumerate(data[:length]):
            if self.f.space and i > 0:
                out.append(" ")
                if self.f.sharp:
                    out.append("0x" if verb == "x" else "0X")
            out.append(digits[byte >> 4] + digits[byte & 0xF])
        return self.pad("".join(out))

    # -- numbers ----------------------------------------------------------------

    def fmt_integer(self, arg: int, verb: str) -> None:
        signed = not isinstance(arg, Uint8)
        value = int(arg)
        if verb == "v":
            if self.f.sharp_v and not signed:
                self.buf.append(self.integer(value, 16, verb="x", sharp=True))
            else:
                self.buf.append(self.integer(value, 10, verb="d"))
        elif verb == "d":
            self.buf.append(self.integer(value, 10, verb="d"))
        elif verb == "b":
            self.buf.append(self.integer(value, 2, verb="b"))
        elif verb in ("o", "O"):
            self.buf.append(self.integer(value, 8, verb=verb))
        elif verb in ("x", "X"):
            self.buf.append(self.integer(value, 16, verb=verb))
        elif verb == "c":
            self.buf.append(self.pad(_rune(value)))
        elif verb == "q":
            self.buf.append(self.pad(go_quote_rune(value, ascii_only=self.f.plus)))
        elif verb == "U":
            self.buf.append(self.fmt_unicode(value))
        else:
            self.bad_verb(verb, arg)

    def integer(self, value: int, base: int, *, verb: str, sharp: bool | None = None) -> str:
        f = self.f
        sharp = f.sharp if sharp is None else sharp
        negative = value < 0
        magnitude = -value if negative else value
        digits = {2: format(magnitude, "b"), 8: format(magnitude, "o"), 10: str(magnitude)}.get(
            base, format(magnitude, "X" if verb == "X" else "x")
        )
        prec = -1
        if f.prec_present:
            prec = f.prec
            if prec == 0 and value == 0:
                return self.pad_spaces("")
        elif f.zero and f.wid_present:
            prec = f.wid
            if negative or f.plus or f.space:
                prec -= 1
        if prec > len(digits):
            digits = "0" * (prec - len(digits)) + digits
        prefix = ""
        if sharp:
            if base == 2:
                prefix = "0b"
            elif base == 8 and not digits.startswith("0"):
                prefix = "0"
            elif base == 16:
                prefix = "0X" if verb == "X" else "0x"
        if verb == "O":
            prefix = "0o"
        sign = "-" if negative else "+" if f.plus else " " if f.space else ""
        text = sign + prefix + digits
        saved = f.zero
        f.zero = False
        try:
            return self.pad(text)
        finally:
            f.zero = saved

    def pad_spaces(self, text: str) -> str:
        saved = self.f.zero
        self.f.zero = False
        try:
            return self.pad(text)
        finally:
            self.f.zero = saved

    def fmt_unicode(self, value: int) -> str:
        digits = format(value & 0xFFFFFFFFFFFFFFFF if value < 0 else value, "X")
        prec = 4
        if self.f.prec_present and self.f.prec > 4:
            prec = self.f.prec
        digits = "0" * max(0, prec - len(digits)) + digits
        text = "U+" + digits
        if self.f.sharp and 0 <= value <= 0x10FFFF and is_go_printable(chr(value)):
            text += " '" + chr(value) + "'"
        return self.pad_spaces(text)

    def fmt_float(self, value: float, verb: str) -> None:
        if verb == "v":
            self.buf.append(self.float_text(value, "g", -1))
        elif verb in ("b", "g", "G", "x", "X"):
            self.buf.append(self.float_text(value, verb, -1))
        elif verb in ("f", "e", "E", "F"):
            self.buf.append(self.float_text(value, verb, 6))
        else:
            self.bad_verb(verb, value)

    def float_text(self, value: float, verb: str, prec: int) -> str:
        f = self.f
        if f.prec_present:
            prec = f.prec
        if verb == "b":
            num = _format_b(value)
        elif verb in ("x", "X"):
            num = _format_x(value, prec, upper=verb == "X")
        else:
            num = format_float(value, verb, prec)
        if not num.startswith(("-", "+")):
            num = "+" + num
        if f.space and num[0] == "+" and not f.plus:
            num = " " + num[1:]
        if num[1:] in ("Inf", "NaN"):
            if num[1:] == "NaN" and not f.space and not f.plus:
                num = num[1:]
            return self.pad_spaces(num)
        if f.sharp and verb != "b":
            digits = 0
            if verb in ("v", "g", "G", "x"):
                digits = 6 if prec == -1 else prec
            tail = ""
            body = num
            has_point = False
            seen_nonzero = False
            kept = [body[0]]
            for i in range(1, len(body)):
                ch = body[i]
                if ch == ".":
                    has_point = True
                elif ch in "pP" or (ch in "eE" and verb not in ("x", "X")):
                    tail = body[i:]
                    break
                else:
                    if ch != "0":
                        seen_nonzero = True
                    if seen_nonzero:
                        digits -= 1
                kept.append(ch)
            body = "".join(kept)
            if not has_point:
                if len(body) == 2 and body[1] == "0":
                    digits -= 1
                body += "."
            body += "0" * max(digits, 0)
            num = body + tail
        if f.plus or num[0] != "+":
            if f.zero and f.wid_present and f.wid > len(num):
                return num[0] + "0" * (f.wid - len(num)) + num[1:]
            return self.pad(num)
        return self.pad(num[1:])

    def fmt_complex(self, value: complex, verb: str) -> None:
        if verb not in ("v", "b", "g", "G", "x", "X", "f", "F", "e", "E"):
            self.bad_verb(verb, value)
            return
        old_plus = self.f.plus
        self.buf.append("(")
        self.fmt_float(value.real, verb)
        self.f.plus = True
        self.fmt_float(value.imag, verb)
        self.buf.append("i)")
        self.f.plus = old_plus


def _format_b(value: float) -> str:
    """strconv 'b': decimal mantissa and binary exponent (``4503599627370496p-52``)."""
    if value == 0:
        return ("-" if math.copysign(1.0, value) < 0 else "") + "0p-1074"
    mantissa, exponent = math.frexp(abs(value))
    mant = int(mantissa * (1 << 53))
    exp = exponent - 53
    if exp < -1074:
        mant >>= -1074 - exp
        exp = -1074
    return ("-" if value < 0 else "") + f"{mant}p{exp:+d}"


def _format_x(value: float, prec: int, *, upper: bool) -> str:
    """strconv 'x': ``0x1.8p+01``."""
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    value = abs(value)
    if math.isinf(value) or math.isnan(value):
        return format_float(value)
    if value == 0:
        mant_digits, exp = "0", 0
        lead = "0"
    else:
        mantissa, exponent = math.frexp(value)  # value = m * 2**e, 0.5 <= m < 1
        exp = exponent - 1
        frac = int((mantissa * 2 - 1) * (1 << 52))  # 52 fraction bits
        lead = "1"
        mant_digits = format(frac, "013x")
        if prec >= 0:
            if prec < 13:
                shift = (13 - prec) * 4
                full = (1 << 52) | frac
                rounded = full >> shift
                remainder = full & ((1 << shift) - 1)
                half = 1 << (shift - 1)
                if remainder > half or (remainder == half and rounded & 1):
                    rounded += 1
                if rounded >> (prec * 4) >= 2:
                    rounded >>= 1
                    exp += 1
                lead = format(rounded >> (prec * 4), "x")
                mant_digits = format(rounded & ((1 << (prec * 4)) - 1), f"0{prec}x") if prec else ""
            else:
                mant_digits = mant_digits + "0" * (prec - 13)
        else:
            mant_digits = mant_digits.rstrip("0")
    text = (
        "0x"
        + lead
        + (
            "." + mant_digits
            if (mant_digits and mant_digits != "0") or (prec > 0 and mant_digits)
            else ""
        )
    )
    text += "p" + ("+" if exp >= 0 else "-") + f"{abs(exp):02d}"
    if upper:
        text = text.upper()
    return sign + text


def _rune(value: int) -> str:
    if value < 0 or value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        return "\ufffd"
    return chr(value)


def _can_backquote(text: str) -> bool:
    for ch in text:
        if ch in ("`", "\ufffd"):
            return False
        if ch != "\t" and (ord(ch) < 0x20 or ord(ch) == 0x7F):
            return False
    return True


def _parse_num(fmt: str, i: int, end: int) -> tuple[int, bool, int]:
    if i >= end or not fmt[i].isdigit() or not fmt[i].isascii():
        return 0, False, i
    num = 0
    while i < end and "0" <= fmt[i] <= "9":
        if num > MAX_WIDTH:
            return 0, False, end
        num = num * 10 + int(fmt[i])
        i += 1
    return num, True, i


def _arg_number(arg_num: int, fmt: str, i: int, num_args: int) -> tuple[int, int, bool, bool, bool]:
    """Parse ``[n]``: (arg_num, i, found, ok, reordered)."""
    if i >= len(fmt) or fmt[i] != "[":
        return arg_num, i, False, True, False
    for j in range(i + 1, len(fmt)):
        if fmt[j] == "]":
            index_text = fmt[i + 1 : j]
            if not index_text.isdigit():
                return arg_num, j + 1, True, False, True
            index = int(index_text) - 1
            if 0 <= index < num_args:
                return index, j + 1, True, True, True
            return arg_num, j + 1, True, False, True
    return arg_num, i + 1, False, False, True


def _int_from_arg(args: tuple[object, ...], arg_num: int) -> tuple[int, bool, int]:
    if arg_num < len(args):
        value = args[arg_num]
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(int(value)) > MAX_WIDTH:
                return 0, False, arg_num + 1
            return int(value), True, arg_num + 1
        return 0, False, arg_num + 1
    return 0, False, arg_num
