"""Go's template builtins (text/template/funcs.go) over Python-held Go values."""

from collections.abc import Callable, Mapping
from urllib.parse import quote

from sigil_renderer.template.gofmt import sprint, sprintf, sprintln
from sigil_renderer.template.lexer import is_go_printable
from sigil_renderer.template.values import NO_VALUE, Root, Uint8, is_true, type_name


class BuiltinError(Exception):
    """A builtin's error; the executor reports ``error calling NAME: MESSAGE``."""


def go_bytes(text: str) -> bytes:
    """A Go string's bytes (raw bytes survive as surrogate escapes)."""
    return text.encode("utf-8", "surrogateescape")


def from_bytes(data: bytes) -> str:
    """Bytes back to a Python str without losing invalid UTF-8."""
    return data.decode("utf-8", "surrogateescape")


_KINDS = {
    "bool": "bool",
    "uint8": "uint",
    "int": "int",
    "float64": "float",
    "complex128": "complex",
    "string": "string",
}


def _kind(value: object) -> str:
    """Go's basicKind of a value ("invalid" for maps, structs and nil)."""
    return _KINDS.get(type_name(value), "invalid")


def _is_nil(value: object) -> bool:
    return value is None or value is NO_VALUE


def eq(arg1: object, *arg2: object) -> bool:
    """eq a b c: a == b || a == c."""
    if not arg2:
        raise BuiltinError("missing argument for comparison")
    k1 = _kind(arg1)
    for arg in arg2:
        k2 = _kind(arg)
        truth = False
        if k1 != k2:
            if {k1, k2} == {"int", "uint"}:
                truth = int(arg1) == int(arg)  # type: ignore[call-overload]
            elif not _is_nil(arg1) and not _is_nil(arg):
                raise BuiltinError("incompatible types for comparison")
        elif k1 != "invalid":
            truth = arg1 == arg
        elif _is_nil(arg1) or _is_nil(arg):
            truth = _is_nil(arg1) == _is_nil(arg)
        else:
            if type_name(arg1) != type_name(arg):
                raise BuiltinError(
                    f"non-comparable types {sprint(arg1)}: {type_name(arg1)}, "
                    f"{type_name(arg)}: {sprint(arg)}"
                )
            raise BuiltinError(f"non-comparable type {sprint(arg)}: {type_name(arg)}")
        if truth:
            return True
    return False


def ne(arg1: object, arg2: object) -> bool:
    """!eq."""
    return not eq(arg1, arg2)


def lt(arg1: object, arg2: object) -> bool:
    """Ordered comparison of basic kinds."""
    k1, k2 = _kind(arg1), _kind(arg2)
    if k1 == "invalid" or k2 == "invalid":
        raise BuiltinError("invalid type for comparison")
    if k1 != k2:
        if {k1, k2} == {"int", "uint"}:
            return bool(int(arg1) < int(arg2))  # type: ignore[call-overload]
        raise BuiltinError("incompatible types for comparison")
    if k1 in ("bool", "complex"):
        raise BuiltinError("invalid type for comparison")
    if k1 == "string":
        return go_bytes(str(arg1)) < go_bytes(str(arg2))
    return bool(arg1 < arg2)  # type: ignore[operator]


def le(arg1: object, arg2: object) -> bool:
    """lt || eq."""
    return lt(arg1, arg2) or eq(arg1, arg2)


def gt(arg1: object, arg2: object) -> bool:
    """!le."""
    return not le(arg1, arg2)


def ge(arg1: object, arg2: object) -> bool:
    """!lt."""
    return not lt(arg1, arg2)


def not_(arg: object) -> bool:
    """Boolean negation of the argument's truth."""
    return not is_true(arg)[0]


def length(item: object) -> int:
    """len: bytes of a string, entries of a map."""
    if _is_nil(item):
        # Go's length() asks the zero reflect.Value for its type, which panics.
        raise BuiltinError("reflect: call of reflect.Value.Type on zero Value")
    if isinstance(item, str):
        return len(go_bytes(item))
    if isinstance(item, Mapping):
        return len(item)
    raise BuiltinError(f"len of type {type_name(item)}")


def _index_arg(index: object, cap: int) -> int:
    if isinstance(index, bool) or not isinstance(index, int):
        if _is_nil(index):
            raise BuiltinError("cannot index slice/array with nil")
        raise BuiltinError(f"cannot index slice/array with type {type_name(index)}")
    x = int(index)
    if x < 0 or x > cap:
        raise BuiltinError(f"index out of range: {x}")
    return x


def index(item: object, *indexes: object) -> object:
    """index item k1 k2...: map entries (zero value when missing), string bytes."""
    if _is_nil(item):
        raise BuiltinError("index of untyped nil")
    for key in indexes:
        if isinstance(item, str):
            data = go_bytes(item)
            x = _index_arg(key, len(data))
            if x == len(data):
                raise BuiltinError("reflect: string index out of range")
            item = Uint8(data[x])
        elif isinstance(item, Mapping):
            if _is_nil(key):
                raise BuiltinError("value is nil; should be of type string")
            if not isinstance(key, str):
                raise BuiltinError(f"value has type {type_name(key)}; should be string")
            item = item.get(key, "")
        else:
            raise BuiltinError(f"can't index item of type {type_name(item)}")
    return item


def slice_(item: object, *indexes: object) -> object:
    """slice s i j: byte slicing of a string."""
    if _is_nil(item):
        raise BuiltinError("slice of untyped nil")
    if len(indexes) > 3:
        raise BuiltinError(f"too many slice indexes: {len(indexes)}")
    if not isinstance(item, str):
        raise BuiltinError(f"can't slice item of type {type_name(item)}")
    if len(indexes) == 3:
        raise BuiltinError("cannot 3-index slice a string")
    data = go_bytes(item)
    idx = [0, len(data)]
    for i, key in enumerate(indexes):
        idx[i] = _index_arg(key, len(data))
    if idx[0] > idx[1]:
        raise BuiltinError(f"invalid slice index: {idx[0]} > {idx[1]}")
    return from_bytes(data[idx[0] : idx[1]])


def _eval_args(args: tuple[object, ...]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    # Go's printableValue turns an invalid (nil) operand into the string "<no value>",
    # which also changes where fmt.Sprint puts spaces.
    return sprint(*("<no value>" if _is_nil(a) else a for a in args))


def html(*args: object) -> str:
    """HTMLEscapeString of the arguments."""
    text = _eval_args(args)
    table = {'"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;", "\0": "\ufffd"}
    return "".join(table.get(ch, ch) for ch in text)


_JS = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "<": "\\u003C",
    ">": "\\u003E",
    "&": "\\u0026",
    "=": "\\u003D",
}


def js(*args: object) -> str:
    """JSEscapeString of the arguments."""
    out: list[str] = []
    for ch in _eval_args(args):
        if ch in _JS:
            out.append(_JS[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u00{ord(ch):02X}")
        elif ord(ch) >= 0x80 and not is_go_printable(ch):
            code = 0xFFFD if 0xD800 <= ord(ch) <= 0xDFFF else ord(ch)
            out.append(f"\\u{code:04X}")
        else:
            out.append(ch)
    return "".join(out)


def urlquery(*args: object) -> str:
    """url.QueryEscape of the arguments."""
    return quote(go_bytes(_eval_args(args)), safe="-_.~").replace("%20", "+")


def call(fn: object, *args: object) -> object:
    """call: there are no function values in Sigil's data."""
    del args
    if _is_nil(fn):
        raise BuiltinError("call of nil")
    raise BuiltinError(f"non-function of type {type_name(fn)}")


def printf(fmt: str, *args: object) -> str:
    """fmt.Sprintf."""
    return sprintf(fmt, *args)


#: name -> (function, number of fixed parameters, variadic, type of the first parameter)
BUILTINS: dict[str, tuple[Callable[..., object], int, bool]] = {
    "and": (lambda *a: a, 1, True),
    "or": (lambda *a: a, 1, True),
    "not": (not_, 1, False),
    "len": (length, 1, False),
    "index": (index, 1, True),
    "slice": (slice_, 1, True),
    "print": (sprint, 0, True),
    "printf": (printf, 1, True),
    "println": (sprintln, 0, True),
    "html": (html, 0, True),
    "js": (js, 0, True),
    "urlquery": (urlquery, 0, True),
    "call": (call, 1, True),
    "eq": (eq, 1, True),
    "ne": (ne, 2, False),
    "lt": (lt, 2, False),
    "le": (le, 2, False),
    "gt": (gt, 2, False),
    "ge": (ge, 2, False),
}

#: Builtins whose parameters are ``...any`` / ``string`` rather than reflect.Value.
INTERFACE_ARGS = frozenset({"print", "printf", "println", "html", "js", "urlquery"})

__all__ = ["BUILTINS", "INTERFACE_ARGS", "BuiltinError", "Root"]
