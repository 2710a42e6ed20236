"""Every form a secret value takes in real logs, so each can be masked.

For a value V (at least ``min_length`` characters), and for each line of a multi-line V,
Sigil masks (the README lists these with the forms deliberately left out):

1. V itself;
2. Go ``%q`` quoting (``printf "%q"``) and env-file newline escaping (``\\n``);
3. JSON string bodies: Python ``json.dumps`` (ASCII-escaped and not) and Go
   ``encoding/json`` defaults (``\\u003c \\u003e \\u0026``, ``\\u2028``, lower-case hex);
4. Sigil's own ``js`` template function (Go ``JSEscapeString``: ``\\u003C``, ``\\'``...);
5. percent-encodings, upper- and lower-case hex: full (``quote(safe="")``), query
   (``+`` for spaces; Go ``url.QueryEscape``, Sigil's ``urlquery``), Python ``quote()``
   defaults (``/`` kept), Go ``url.PathEscape``, JS ``encodeURI`` and
   ``encodeURIComponent``, and ``/:@`` kept;
6. hex of the UTF-8 bytes (``printf "%x"`` and ``"%X"``);
7. base64 and base64url at the three byte alignments (the characters that depend only on
   V, so V inside a longer blob is caught); base64 wrapped at 64/76 columns: the kernel
   reads runs wrapped with bare line breaks with the breaks taken out (any alignment), and
   each wrapped line of base64(V) itself (PEM: 48 bytes a line, MIME: 57) is a pattern of
   its own, so any separator between the lines (indentation, an escaped ``\\n``, ``\\r\\n``,
   a list marker) leaves none of them visible;
8. XML/HTML escaping (``&amp; &lt; &gt;``), each quote character independently as itself or
   any common entity (``"``: ``&quot; &#34; &#x22;``; ``'``: ``&apos; &#39; &#039; &#x27;``),
   which covers Python ``html.escape``, Ruby ``CGI.escapeHTML``, PHP ``htmlspecialchars``,
   Go ``html.EscapeString`` and Sigil's ``html`` function: at most 20 forms per text.
"""

import base64
import json
import re
from collections.abc import Iterable, Iterator
from urllib.parse import quote

MIN_ENCODED_LENGTH = 8
#: Plaintext bytes per line of wrapped base64: PEM (64 columns) and MIME (76 columns).
WRAP_LINE_BYTES = (48, 57)
#: The last, shorter line of wrapped base64(V) is a pattern only from this many bytes of V
#: (8 base64 characters, 48 bits: as distinctive as the shortest whole-value base64 form); a
#: shorter last line would mask unrelated blobs everywhere, and leaves at most 5 bytes of V.
WRAPPED_TAIL_MIN_BYTES = 6

#: ``safe`` sets of the percent-encoders people actually use (unreserved ``-._~`` and
#: alphanumerics are always kept by ``quote``).
_PERCENT_SAFE = (
    "",  # encodeURIComponent without !*'(); Go url.QueryEscape modulo spaces
    "/",  # Python quote() defaults
    "/:@",
    "$&+,:;=@",  # Go url.PathEscape
    ";,/?:@&=+$!*'()#",  # JS encodeURI
    "!*'()",  # JS encodeURIComponent
)
_HEX_ESCAPE = re.compile(r"%[0-9A-F]{2}")

_GO_JSON = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_GO_JSON_HTML = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}
_JS = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "<": "\\u003C",
    ">": "\\u003E",
    "&": "\\u0026",
    "=": "\\u003D",
}


def _go_quote_char(code: int) -> str:
    ch = chr(code)
    if ch in ('"', "\\"):
        return "\\" + ch
    if ch == "\n":
        return "\\n"
    if ch == "\t":
        return "\\t"
    if ch == "\r":
        return "\\r"
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    return ch


#: Every character Go ``%q`` escapes is ASCII: one ``str.translate`` (C speed, a 64 KiB
#: value in a millisecond) does it.
_GO_QUOTE_TABLE = {c: _go_quote_char(c) for c in range(0x80) if _go_quote_char(c) != chr(c)}


def _go_quote_body(value: str) -> str:
    return value.translate(_GO_QUOTE_TABLE)


def _go_json_char(code: int) -> str:
    ch = chr(code)
    if ch in _GO_JSON:
        return _GO_JSON[ch]
    if ch in _GO_JSON_HTML:
        return _GO_JSON_HTML[ch]
    if code < 0x20 or code in (0x2028, 0x2029):
        return f"\\u{code:04x}"
    return ch


_GO_JSON_TABLE = {
    c: _go_json_char(c) for c in [*range(0x80), 0x2028, 0x2029] if _go_json_char(c) != chr(c)
}


def _go_json_body(value: str) -> str:
    """Go ``encoding/json`` string body with its default HTML-safe escaping."""
    return value.translate(_GO_JSON_TABLE)


_JS_TABLE = {ord(ch): escaped for ch, escaped in _JS.items()} | {
    c: f"\\u{c:04X}" for c in range(0x20) if chr(c) not in _JS
}
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _js_non_ascii(match: re.Match[str]) -> str:
    ch = match.group(0)
    if ch.isprintable():
        return ch
    code = ord(ch)
    return f"\\u{0xFFFD if 0xD800 <= code <= 0xDFFF else code:04X}"


def _js_escape(value: str) -> str:
    """Go ``template.JSEscapeString`` (Sigil's ``js`` function)."""
    escaped = value.translate(_JS_TABLE)
    return escaped if escaped.isascii() else _NON_ASCII.sub(_js_non_ascii, escaped)


def _percent(data: bytes) -> Iterator[str]:
    for safe in _PERCENT_SAFE:
        encoded = quote(data, safe=safe)
        variants = [encoded]
        if not safe:  # query strings: a space is "+" (quote_plus, url.QueryEscape)
            variants.append(encoded.replace("%20", "+"))
        for variant in variants:
            yield variant
            yield _HEX_ESCAPE.sub(lambda m: m.group(0).lower(), variant)


def _base64_cores(data: bytes) -> Iterator[str]:
    """The base64 characters determined by ``data`` alone, at each of 3 alignments."""
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + data).decode()
        start = 4 if pad else 0  # the first group mixes in unknown preceding bytes
        full_groups = (pad + len(data)) // 3  # a trailing partial group depends on what follows
        core = encoded[start : full_groups * 4]
        if len(core) >= MIN_ENCODED_LENGTH:
            yield core
            yield core.replace("+", "-").replace("/", "_")


def _wrapped_lines(data: bytes) -> Iterator[str]:
    """Each line of base64(``data``) wrapped at 64 and 76 columns, whatever separates them.

    Only for ``data`` at the start of the blob (alignment 0: a value encoded on its own, as
    in a PEM or a Kubernetes secret); the last line when it holds enough of ``data`` to be
    distinctive, both as the characters ``data`` alone determines and padded (the value
    ends the blob).
    """
    for width in WRAP_LINE_BYTES:
        if len(data) <= width:  # one line: the whole-value base64 forms cover it
            continue
        for start in range(0, len(data), width):
            chunk = data[start : start + width]
            if len(chunk) == width:
                yield base64.b64encode(chunk).decode()
            elif len(chunk) >= WRAPPED_TAIL_MIN_BYTES:
                yield base64.b64encode(chunk[: len(chunk) // 3 * 3]).decode()
                yield base64.b64encode(chunk).decode()


#: Each quote character as itself or any entity encoders emit for it.
_DOUBLE_QUOTE = ('"', "&quot;", "&#34;", "&#x22;")
_SINGLE_QUOTE = ("'", "&apos;", "&#39;", "&#039;", "&#x27;")


def _xml(value: str) -> Iterator[str]:
    """``& < >`` as entities, each quote character independently as any of its forms.

    Encoders pick one entity per character (Python ``html.escape``: ``&quot; &#x27;``, Ruby
    ``CGI.escapeHTML``: ``&quot; &#39;``, PHP ``ENT_QUOTES``: ``&quot; &#039;``), so the
    forms are the combinations of one choice per quote character: at most 4 x 5.
    """
    amp = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    doubles = _DOUBLE_QUOTE if '"' in value else ('"',)
    singles = _SINGLE_QUOTE if "'" in value else ("'",)
    for double in doubles:
        quoted = amp.replace('"', double)
        for single in singles:
            yield quoted.replace("'", single)


def _encodings(text: str) -> set[str]:
    data = text.encode("utf-8", "surrogatepass")
    found = {text, _go_quote_body(text), _go_json_body(text), _js_escape(text)}
    found.add(json.dumps(text)[1:-1])
    found.add(json.dumps(text, ensure_ascii=False)[1:-1])
    found.update(_percent(data))
    found.add(data.hex())
    found.add(data.hex().upper())
    found.update(_base64_cores(data))
    found.update(_xml(text))
    return found


def _forms(value: str, *, min_length: int) -> tuple[set[str], set[str]]:
    """One value's encodings (of it and of each of its lines) and its wrapped base64 lines."""
    if len(value) < min_length:
        return set(), set()
    found = _encodings(value)
    lines = set(_wrapped_lines(value.encode("utf-8", "surrogatepass")))
    for line in dict.fromkeys(value.splitlines()):  # each distinct line once
        if line != value and len(line.strip()) >= min_length:
            found |= _encodings(line)
    return {f for f in found if len(f) >= min_length}, {f for f in lines if len(f) >= min_length}


def forms(value: str, *, min_length: int) -> set[str]:
    """All maskable forms of one value (empty when the value is too short to mask).

    Each encoding applies to the whole value and to each line of a multi-line value.
    """
    encodings, lines = _forms(value, min_length=min_length)
    return encodings | lines


def split_forms(values: Iterable[str], *, min_length: int) -> tuple[set[str], set[str]]:
    """Every value's forms: the encodings, and the lines of wrapped base64 apart.

    The kernel anchors the two differently: a long value has a few encodings but thousands of
    wrapped lines.
    """
    encodings: set[str] = set()
    lines: set[str] = set()
    for value in values:
        found, wrapped = _forms(value, min_length=min_length)
        encodings |= found
        lines |= wrapped
    return encodings, lines


def all_forms(values: Iterable[str], *, min_length: int) -> set[str]:
    """The union of every value's forms."""
    encodings, lines = split_forms(values, min_length=min_length)
    return encodings | lines
