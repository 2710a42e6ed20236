"""Go values as Python sees them, with Go's type names and default (%v) formatting."""

import math
from collections.abc import Mapping
from dataclasses import dataclass


class Uint8(int):
    """A Go ``uint8`` (``index`` of a string yields bytes)."""


class NoValue:
    """An invalid reflect.Value (printed as ``<no value>``)."""

    _instance: "NoValue | None" = None

    def __new__(cls) -> "NoValue":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE = NoValue()
ROOT_TYPE = "struct { Secrets map[string]string }"
MAP_TYPE = "map[string]string"


@dataclass(frozen=True)
class Root:
    """The data: a value of Go's ``struct{ Secrets map[string]string }``."""

    secrets: Mapping[str, str]


def type_name(value: object) -> str:
    """reflect.TypeOf(value).String()."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Uint8):
        return "uint8"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, complex):
        return "complex128"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return MAP_TYPE
    if isinstance(value, Root):
        return ROOT_TYPE
    return type(value).__name__


def format_float(value: float, verb: str = "g", prec: int = -1) -> str:
    """strconv.FormatFloat(value, verb, prec, 64) for e, E, f, F, g, G."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if verb in "fF":
        if prec < 0:
            return _shortest_fixed(value)
        return f"{value:.{prec}f}"
    if verb in "eE":
        text = _shortest_exp(value) if prec < 0 else f"{value:.{prec}e}"
        return _go_exponent(text, upper=verb == "E")
    return _format_g(value, prec, upper=verb == "G")


def _go_exponent(text: str, *, upper: bool) -> str:
    mantissa, _, exp = text.partition("e")
    sign = exp[0] if exp and exp[0] in "+-" else "+"
    digits = exp.lstrip("+-").lstrip("0") or "0"
    if len(digits) < 2:
        digits = "0" + digits
    return f"{mantissa}{'E' if upper else 'e'}{sign}{digits}"


def _digits(value: float) -> tuple[str, int]:
    """Shortest decimal digits of |value| and the decimal point position (like Go's decimal)."""
    text = repr(abs(value))
    if "e" in text or "E" in text:
        mantissa, _, exp = text.lower().partition("e")
        exponent = int(exp)
    else:
        mantissa, exponent = text, 0
    if "." in mantissa:
        whole, frac = mantissa.split(".")
    else:
        whole, frac = mantissa, ""
    digits = (whole + frac).lstrip("0")
    point = len(whole) + exponent
    if not digits:
        return "0", 1
    leading = len(whole + frac) - len((whole + frac).lstrip("0"))
    point -= leading
    return digits.rstrip("0") or "0", point


def _shortest_exp(value: float) -> str:
    digits, point = _digits(value)
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    exp = point - 1 if digits != "0" else 0
    return f"{sign}{mantissa}e{exp:+d}"


def _shortest_fixed(value: float) -> str:
    digits, point = _digits(value)
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if digits == "0":
        return sign + "0"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _format_g(value: float, prec: int, *, upper: bool) -> str:
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if prec < 0:
        digits, point = _digits(value)
        eprec = 6
    else:
        if prec == 0:
            prec = 1
        text = f"{abs(value):.{prec - 1}e}"
        mantissa, _, exp_text = text.partition("e")
        digits = mantissa.replace(".", "").rstrip("0") or "0"
        point = int(exp_text) + 1 if digits != "0" else 1
        eprec = prec
        if eprec > len(digits) and len(digits) >= point:
            eprec = len(digits)
    if digits == "0":
        point = 1
    exp = point - 1
    if exp < -4 or exp >= eprec:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return sign + _go_exponent(f"{mantissa}e{exp:+d}", upper=upper)
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def format_complex(value: complex, verb: str = "g", prec: int = -1) -> str:
    """(real+imagi) as Go prints complex128."""
    real = format_float(value.real, verb, prec)
    imag = format_float(value.imag, verb, prec)
    if not imag.startswith(("-", "+")):
        imag = "+" + imag
    return f"({real}{imag}i)"


def default_string(value: object) -> str:
    """fmt.Sprint of one value (the %v form)."""
    if value is None:
        return "<nil>"
    if value is NO_VALUE:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, complex):
        return format_complex(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{value[k]}" for k in sorted(value)) + "]"
    if isinstance(value, Root):
        return "{" + default_string(value.secrets) + "}"
    return str(value)


def is_true(value: object) -> tuple[bool, bool]:
    """Go's isTrue: (truth, ok)."""
    if value is None or value is NO_VALUE:
        return False, True
    if isinstance(value, bool):
        return value, True
    if isinstance(value, (int, float, complex)):
        return value != 0, True
    if isinstance(value, (str, Mapping)):
        return len(value) > 0, True
    if isinstance(value, Root):
        return True, True
    return True, True
