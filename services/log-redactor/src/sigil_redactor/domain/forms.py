"""Every form a secret value takes in real logs, so each can be masked.

For a value V (at least ``min_length`` characters) Sigil masks:

1. V itself, and each line of a multi-line V (lines of at least ``min_length``);
2. V as Sigil renders it with ``printf "%q"`` (Go quoting) and as an env-file line would
   carry it (newlines escaped as ``\\n``);
3. V as a JSON string body (ASCII-escaped and not);
4. V URL-encoded (percent-encoding, and ``+`` for spaces as in query strings);
5. base64 and base64url of V at the three byte alignments, so V inside a longer encoded
   blob (``base64("user:" + V)``) is caught — the characters that depend only on V;
6. V with XML/HTML escaping (``&amp; &lt; &gt; &quot; &#34; &apos; &#39;``).
"""

import base64
import json
from collections.abc import Iterable, Iterator
from urllib.parse import quote, quote_plus

MIN_ENCODED_LENGTH = 8


def _go_quote_body(value: str) -> str:
    out = []
    for ch in value:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    return "".join(out)


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


def _xml(value: str) -> Iterator[str]:
    amp = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    yield amp.replace('"', "&quot;").replace("'", "&apos;")
    yield amp.replace('"', "&#34;").replace("'", "&#39;")
    yield amp.replace('"', "&#x22;").replace("'", "&#x27;")


def _encodings(text: str) -> set[str]:
    found = {text, _go_quote_body(text), json.dumps(text)[1:-1]}
    found.add(json.dumps(text, ensure_ascii=False)[1:-1])
    found.add(quote(text, safe=""))
    found.add(quote_plus(text, safe=""))
    found.add(quote(text, safe="/:@"))
    found.update(_base64_cores(text.encode("utf-8", "surrogatepass")))
    found.update(_xml(text))
    return found


def forms(value: str, *, min_length: int) -> set[str]:
    """All maskable forms of one value (empty when the value is too short to mask).

    Each encoding applies to the whole value and to each line of a multi-line value.
    """
    if len(value) < min_length:
        return set()
    found = _encodings(value)
    for line in value.splitlines():
        if len(line.strip()) >= min_length:
            found |= _encodings(line)
    return {f for f in found if len(f) >= min_length}


def all_forms(values: Iterable[str], *, min_length: int) -> set[str]:
    """The union of every value's forms."""
    patterns: set[str] = set()
    for value in values:
        patterns |= forms(value, min_length=min_length)
    return patterns
