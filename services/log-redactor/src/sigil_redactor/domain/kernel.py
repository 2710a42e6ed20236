"""The masking kernel: multi-pattern automata over UTF-8 bytes, built in bounded time.

Built on ahocorasick-rs: the DFA where its build cost is bounded (``DFA_BUDGET``), else the
contiguous NFA, whose construction is linear in the bytes of the patterns (the DFA's is
quadratic for long repetitive values: a 64 KiB ``xxx…`` took minutes) and which scans within
a quarter of the DFA. Matches are found *overlapping* and merged, so
no part of any secret stays visible even when secrets overlap or one is a prefix of another
(Go's ``strings.Replacer`` in key order leaks the tail of the longer one).

Overlapping search reports every pattern ending at a position, so a family of patterns that
are suffixes of one another (``xxxx``, ``xxxxx``, ...) could report hundreds of matches per
byte of text. Patterns are therefore split into layers by their suffix depth: within one
layer at most ``LAYER_DEPTH`` patterns end at any position, so a scan reports at most that
many matches per byte; ordinary secret sets need one layer.
"""

import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence

import ahocorasick_rs

from sigil_redactor.domain.forms import all_forms

MASK = "********"
_MASK_BYTES = MASK.encode()
LAYER_DEPTH = 4
#: The DFA is built only up to this sum of squared pattern lengths (its build time) ...
DFA_BUDGET = 64_000_000
#: ... and this many pattern bytes: it takes ~400 bytes of memory per pattern byte (10,000
#: secrets x forms: 1 GB), the contiguous NFA ~35 (88 MB).
DFA_MAX_PATTERN_BYTES = 256 * 1024
_SEPARATOR_TEXT = "\0"
#: Wrapped base64 (PEM 64 / MIME 76 columns): a line break with at least 60 base64
#: characters before it and one after it.
_BREAK = re.compile(rb"\r?\n")
_B64_LINE = re.compile(rb"[A-Za-z0-9+/]{60}")
_B64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_RUN = re.compile(rb"[A-Za-z0-9+/=]*")
_B64_TAIL_MAX = 80


def suffix_layers(patterns: Iterable[bytes], *, depth: int = LAYER_DEPTH) -> list[list[bytes]]:
    """Patterns grouped so that at most ``depth`` of a group are suffixes of one another.

    A pattern's suffix depth is the number of other patterns that are its proper suffixes;
    patterns of equal depth are never suffixes of each other. Sorting the reversed
    patterns puts every reversed proper suffix before the patterns it ends, as a chain kept
    on a stack: linear in the bytes of the patterns (besides the sort).
    """
    layers: defaultdict[int, list[bytes]] = defaultdict(list)
    stack: list[bytes] = []
    for reversed_pattern in sorted({p[::-1] for p in patterns if p}):
        while stack and not reversed_pattern.startswith(stack[-1]):
            stack.pop()
        layers[len(stack) // depth].append(reversed_pattern[::-1])
        stack.append(reversed_pattern)
    return [layers[i] for i in sorted(layers)]


def _implementation(patterns: list[bytes]) -> ahocorasick_rs.Implementation:
    """The DFA (a quarter faster to scan) when its build time and memory are bounded.

    The DFA build follows failure links, whose chains are as long as a pattern's repetitive
    run: its cost grows with the sum of squared pattern lengths (a 64 KiB ``xxx…`` took
    minutes). Within ``DFA_BUDGET`` that is well under a second; beyond it, or for large sets
    (memory), the contiguous NFA, whose build is linear in the pattern bytes, is used.
    """
    if sum(len(p) for p in patterns) > DFA_MAX_PATTERN_BYTES:
        return ahocorasick_rs.Implementation.ContiguousNFA
    if sum(len(p) * len(p) for p in patterns) > DFA_BUDGET:
        return ahocorasick_rs.Implementation.ContiguousNFA
    return ahocorasick_rs.Implementation.DFA


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans.sort()
    merged: list[tuple[int, int]] = []
    start, end = spans[0]
    for s, e in spans[1:]:
        if s < end:  # overlapping: one mask
            end = max(end, e)
            continue
        merged.append((start, end))
        start, end = s, e
    merged.append((start, end))
    return merged


def _mask(data: bytes, spans: list[tuple[int, int]]) -> bytes:
    out = bytearray()
    cursor = 0
    for start, end in _merge(spans):
        out += data[cursor:start]
        out += _MASK_BYTES
        cursor = end
    out += data[cursor:]
    return bytes(out)


class Redactor:
    """``Redactor(values).redact(text)``: every occurrence of every form becomes ``********``."""

    def __init__(self, values: Iterable[str], *, min_length: int = 4) -> None:
        patterns = [
            p.encode("utf-8", "surrogatepass") for p in all_forms(values, min_length=min_length)
        ]
        self.pattern_count = len(patterns)
        self.pattern_bytes = sum(len(p) for p in patterns)
        self._automata = [
            ahocorasick_rs.BytesAhoCorasick(
                layer,
                matchkind=ahocorasick_rs.MatchKind.Standard,
                implementation=_implementation(layer),
            )
            for layer in suffix_layers(patterns)
        ]

    @property
    def layers(self) -> int:
        """Automata a scan runs (1 for ordinary secret sets)."""
        return len(self._automata)

    def _spans(self, data: bytes) -> list[tuple[int, int]]:
        spans = [
            (start, end)
            for automaton in self._automata
            for _, start, end in automaton.find_matches_as_indexes(data, overlapping=True)
        ]
        if b"\n" in data:
            spans.extend(self._wrapped_spans(data))
        return spans

    def _wrapped_spans(self, data: bytes) -> list[tuple[int, int]]:
        """Matches inside base64 wrapped at 64/76 columns, read without its line breaks."""
        breaks = [
            (m.start(), m.end())
            for m in _BREAK.finditer(data)
            if m.start() >= 60
            and m.end() < len(data)
            and data[m.end()] in _B64_CHARS
            and _B64_LINE.fullmatch(data, m.start() - 60, m.start()) is not None
        ]
        spans: list[tuple[int, int]] = []
        i = 0
        while i < len(breaks):
            # One wrapped run: breaks separated only by one line of base64 characters.
            j = i
            while j + 1 < len(breaks):
                gap = data[breaks[j][1] : breaks[j + 1][0]]
                if len(gap) > _B64_TAIL_MAX or _B64_RUN.fullmatch(gap) is None:
                    break
                j += 1
            lead = data[max(0, breaks[i][0] - _B64_TAIL_MAX) : breaks[i][0]]
            start = breaks[i][0] - (len(lead) - len(lead.rstrip(_B64_CHARS)))
            tail = _B64_RUN.match(data, breaks[j][1], breaks[j][1] + _B64_TAIL_MAX)
            end = tail.end() if tail else breaks[j][1]
            # The run without its breaks, and where each of its bytes came from.
            pieces: list[tuple[int, int]] = []
            cursor = start
            for brk_start, brk_end in breaks[i : j + 1]:
                pieces.append((cursor, brk_start))
                cursor = brk_end
            pieces.append((cursor, end))
            origin = [pos for a, b in pieces for pos in range(a, b)]
            joined = b"".join(data[a:b] for a, b in pieces)
            for automaton in self._automata:
                for _, s, e in automaton.find_matches_as_indexes(joined, overlapping=True):
                    spans.append((origin[s], origin[e - 1] + 1))
            i = j + 1
        return spans

    def redact(self, text: str) -> str:
        """The text with every secret form masked; never raises on content."""
        return self.redact_many([text])[0]

    def redact_many(self, texts: Sequence[str]) -> list[str]:
        """Each text masked, in one scan of them all (a match never spans two texts)."""
        if not self._automata or not texts:
            return list(texts)
        joined = _SEPARATOR_TEXT.join(texts)
        data = joined.encode("utf-8", "surrogatepass")
        spans = self._spans(data)
        if not spans:
            return list(texts)
        # Byte offset where each text starts (characters are bytes when all is ASCII).
        starts: list[int] = []
        offset = 0
        if joined.isascii():
            for text in texts:
                starts.append(offset)
                offset += len(text) + 1
        else:
            for text in texts:
                starts.append(offset)
                offset += len(text.encode("utf-8", "surrogatepass")) + 1
        pending: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for start, end in spans:
            index = bisect_right(starts, start) - 1
            base = starts[index]
            limit = starts[index + 1] - 1 if index + 1 < len(starts) else len(data)
            if end <= limit:  # inside one text, not across a separator
                pending[index].append((start - base, end - base))
        out = list(texts)
        for index, local in pending.items():
            piece = data[starts[index] : starts[index] + _byte_length(starts, index, len(data))]
            out[index] = _mask(piece, local).decode("utf-8", "surrogatepass")
        return out


def _byte_length(starts: list[int], index: int, total: int) -> int:
    end = starts[index + 1] - 1 if index + 1 < len(starts) else total
    return end - starts[index]
