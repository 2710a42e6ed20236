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

Long forms (over ``ANCHOR_BYTES``; a 64 KiB value has a dozen forms of 64-192 KiB) are not
put into the automata whole: automata over megabytes of patterns take seconds to build (and
ahocorasick-rs holds the GIL while it builds, so the event loop would stall) and a gigabyte of
memory. Only each long form's first ``ANCHOR_BYTES`` bytes (its anchor) go in; where an anchor
matches, the form is compared at that position directly and the longest prefix of it found
there is masked: the whole form where it is all there, else as much of it as is there (at
least the anchor). A prefix of a secret is secret material, so a long value cut short in a log
is masked as far as it goes (whole forms masked before are masked the same; a cut form, once
visible but for nothing, is now masked too). The comparisons a scan makes are bounded by
``VERIFY_BUDGET_PER_BYTE`` times the bytes scanned (a run of ``xxx…`` against a long ``xxx…``
value would otherwise compare a long form at every position); past that, an anchor match masks
its whole form's length without comparing (cut at the end of its text): more, never less.

The lines of wrapped base64 (``forms.split_forms``: 64/76 characters, 2,300 of them for a
64 KiB value, whose number rather than length made the automaton big) go in as their first
``LINE_ANCHOR_BYTES`` (8 base64 characters, 48 bits: as distinctive as the shortest base64
form) and are masked where they are whole, as they always were: a line's first characters
alone (those of a public PEM header, say) are not. With both, the automaton for 40 values of
60,000 characters holds 0.7 MB of patterns instead of 28 MB: its build, during which the
event loop of the thread's process does not run, takes a third of a second instead of six.
"""

import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence

import ahocorasick_rs

from sigil_redactor.domain.forms import split_forms

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
#: Forms longer than this go into the automata as their first ``ANCHOR_BYTES`` bytes only.
ANCHOR_BYTES = 64
#: ... and lines of wrapped base64 (64/76 characters; a 64 KiB value has 2,300 of them, whose
#: count, not length, makes the automaton big) longer than this, as their first this many.
LINE_ANCHOR_BYTES = 8
#: At most this many bytes of patterns in one automaton. ahocorasick-rs holds the GIL while it
#: builds one (about 0.5 s a MB), so the event loop does not run meanwhile: a larger set (values
#: of thousands of short lines: each line's encodings are patterns of their own) is built as
#: several automata, each scanned in turn. 10,000 ordinary secrets (2.5 MB) still fit in one.
AUTOMATON_MAX_BYTES = 3 * 1024 * 1024
#: Bytes of long forms a scan may compare per byte of text (plus ``_VERIFY_BUDGET_MIN``).
VERIFY_BUDGET_PER_BYTE = 64
_VERIFY_BUDGET_MIN = 1 << 20

Span = tuple[int, int]


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


#: The long forms that share an anchor (sorted), and whether a prefix of them is masked.
Group = tuple[tuple[bytes, ...], bool]


def anchored(
    groups: Iterable[tuple[Iterable[bytes], int, bool]],
) -> tuple[set[bytes], dict[bytes, Group]]:
    """The automaton patterns (short forms and anchors) and each anchor's long forms.

    ``groups``: patterns, the anchor length for them and whether a prefix of one of them (its
    anchor at least) is masked; a pattern longer than its anchor length goes in as its first
    that many bytes.
    """
    short: set[bytes] = set()
    long: defaultdict[bytes, set[bytes]] = defaultdict(set)
    prefixes: set[bytes] = set()
    for patterns, anchor_bytes, mask_prefixes in groups:
        for pattern in patterns:
            if len(pattern) > anchor_bytes:
                anchor = pattern[:anchor_bytes]
                long[anchor].add(pattern)
                if mask_prefixes:
                    prefixes.add(anchor)
            elif pattern:
                short.add(pattern)
    for anchor, forms in long.items():
        if anchor in short:  # a form of its own too: matched whole like the others
            forms.add(anchor)
    return short | set(long), {
        anchor: (tuple(sorted(forms)), anchor in prefixes) for anchor, forms in long.items()
    }


def _chunks(patterns: list[bytes], limit: int) -> Iterator[list[bytes]]:
    """``patterns`` in runs of at most ``limit`` bytes (one run when they fit)."""
    chunk: list[bytes] = []
    size = 0
    for pattern in patterns:
        if chunk and size + len(pattern) > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(pattern)
        size += len(pattern)
    if chunk:
        yield chunk


def _common_prefix(data: bytes, start: int, pattern: bytes) -> int:
    """How many leading bytes of ``pattern`` ``data`` holds at ``start`` (its anchor, at least).

    One ``memcmp`` when the whole form is there, else a binary search (compares only).
    """
    if data.startswith(pattern, start):
        return len(pattern)
    view = memoryview(pattern)
    low, high = 0, min(len(pattern), len(data) - start)  # low holds, high may not
    while low < high:
        middle = (low + high + 1) // 2
        if data.startswith(view[:middle], start):
            low = middle
        else:
            high = middle - 1
    return low


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


def _adds(covered: list[Span], start: int, end: int) -> bool:
    """Whether ``start:end`` holds a byte outside ``covered`` (merged, sorted)."""
    index = bisect_right(covered, (start, 1 << 62)) - 1
    cursor = start
    if index >= 0:
        cursor = max(cursor, covered[index][1])
    index += 1
    while cursor < end and index < len(covered) and covered[index][0] <= cursor:
        cursor = max(cursor, covered[index][1])
        index += 1
    return cursor < end


def _pieces_of(pieces: list[Span], start: int, end: int) -> Iterator[Span]:
    """Where bytes ``start:end`` of the concatenated ``pieces`` (of some text) came from."""
    offset = 0
    for a, b in pieces:
        length = b - a
        low, high = max(start, offset), min(end, offset + length)
        if low < high:
            yield a + low - offset, a + high - offset
        offset += length
        if offset >= end:
            return


def _mask(data: bytes, spans: list[Span], partial: Sequence[Span] = ()) -> bytes:
    """``data`` with ``spans`` masked, and what ``partial`` spans add to them.

    Whole matches are masked as they always were (overlapping ones as one mask, adjacent ones
    as two); a long form's prefix counts only where it masks a byte no whole match does, so
    text masked before reads the same.
    """
    if partial:
        covered = _merge(list(spans)) if spans else []
        spans = spans + [p for p in _merge(list(partial)) if _adds(covered, *p)]
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
        whole, lines = split_forms(values, min_length=min_length)
        encoded = [p.encode("utf-8", "surrogatepass") for p in whole]
        encoded_lines = [p.encode("utf-8", "surrogatepass") for p in lines - whole]
        self.pattern_count = len(encoded) + len(encoded_lines)
        self.pattern_bytes = sum(len(p) for p in encoded) + sum(len(p) for p in encoded_lines)
        searched, self._long = anchored(
            [(encoded, ANCHOR_BYTES, True), (encoded_lines, LINE_ANCHOR_BYTES, False)]
        )
        #: What the automata hold: every pattern is at most ``ANCHOR_BYTES`` long.
        self.automaton_pattern_count = len(searched)
        self.automaton_pattern_bytes = sum(len(p) for p in searched)
        #: Each automaton, and the groups of those of its patterns that are anchors.
        self._automata: list[tuple[ahocorasick_rs.BytesAhoCorasick, dict[int, Group]]] = []
        self._chunks: list[list[bytes]] = []
        for layer in suffix_layers(searched):
            for chunk in _chunks(layer, AUTOMATON_MAX_BYTES):
                automaton = ahocorasick_rs.BytesAhoCorasick(
                    chunk,
                    matchkind=ahocorasick_rs.MatchKind.Standard,
                    implementation=_implementation(chunk),
                )
                groups = {i: self._long[p] for i, p in enumerate(chunk) if p in self._long}
                self._automata.append((automaton, groups))
                self._chunks.append(chunk)

    def automaton_patterns(self) -> list[list[bytes]]:
        """The patterns of each automaton a scan runs (short forms and anchors)."""
        return [list(chunk) for chunk in self._chunks]

    @property
    def layers(self) -> int:
        """Automata a scan runs (1 for ordinary secret sets; suffix layers, each in chunks)."""
        return len(self._automata)

    def _find(self, data: bytes) -> tuple[list[Span], list[Span]]:
        """Whole matches in ``data``, and prefixes of long forms (which may run past a text)."""
        spans: list[Span] = []
        hits: list[tuple[int, Group]] = []
        for automaton, groups in self._automata:
            found = automaton.find_matches_as_indexes(data, overlapping=True)
            if not groups:
                spans.extend((start, end) for _, start, end in found)
                continue
            spans.extend((start, end) for index, start, end in found if index not in groups)
            hits.extend((start, groups[index]) for index, start, _ in found if index in groups)
        if not hits:
            return spans, []
        return spans, self._extend(data, hits, spans)

    def _extend(self, data: bytes, hits: list[tuple[int, Group]], spans: list[Span]) -> list[Span]:
        """The long forms at anchor matches: whole ones into ``spans``; the prefixes returned.

        Forms sharing an anchor are sorted as bytes: the one sharing the longest prefix with
        the text is next to where the text would sort, and the longest form the text holds
        whole is found by a few such searches, however many share the anchor (values with a
        long common prefix).
        """
        budget = VERIFY_BUDGET_PER_BYTE * len(data) + _VERIFY_BUDGET_MIN
        partial: list[Span] = []
        for start, (forms, mask_prefixes) in hits:
            longest = max(len(f) for f in forms) if len(forms) > 1 else len(forms[0])
            if budget <= 0:  # out of budget: mask as if the longest form were there
                partial.append((start, start + longest))
                continue
            budget -= 4 * longest  # a slice, a full compare or a binary search's
            if len(forms) == 1:
                reach = whole = _common_prefix(data, start, forms[0])
                if whole < len(forms[0]):
                    whole = 0
            else:
                text = data[start : start + longest]
                place = bisect_right(forms, text)
                reach = max(
                    _common_prefix(data, start, forms[i])
                    for i in (place - 1, place)
                    if 0 <= i < len(forms)
                )
                whole = 0
                while place > 0:  # the longest form that is a prefix of the text
                    candidate = forms[place - 1]
                    shared = _common_prefix(data, start, candidate)
                    if shared == len(candidate):
                        whole = shared
                        break
                    place = bisect_right(forms, text[:shared], 0, place - 1)
            if whole:
                spans.append((start, start + whole))
            if reach > whole and mask_prefixes:
                partial.append((start, start + reach))
        return partial

    def _spans(self, data: bytes) -> tuple[list[Span], list[Span]]:
        spans, partial = self._find(data)
        if b"\n" in data:
            wrapped, wrapped_partial = self._wrapped_spans(data)
            spans.extend(wrapped)
            partial.extend(wrapped_partial)
        return spans, partial

    def _wrapped_spans(self, data: bytes) -> tuple[list[Span], list[Span]]:
        """Matches inside base64 wrapped at 64/76 columns, read without its line breaks."""
        breaks = [
            (m.start(), m.end())
            for m in _BREAK.finditer(data)
            if m.start() >= 60
            and m.end() < len(data)
            and data[m.end()] in _B64_CHARS
            and _B64_LINE.fullmatch(data, m.start() - 60, m.start()) is not None
        ]
        spans: list[Span] = []
        partial: list[Span] = []
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
            found, prefixes = self._find(joined)
            spans.extend((origin[s], origin[e - 1] + 1) for s, e in found)
            for s, e in prefixes:  # a prefix masks the base64 it covers, not the breaks
                partial.extend(_pieces_of(pieces, s, min(e, len(joined))))
            i = j + 1
        return spans, partial

    def redact(self, text: str) -> str:
        """The text with every secret form masked; never raises on content."""
        return self.redact_many([text])[0]

    def redact_many(self, texts: Sequence[str]) -> list[str]:
        """Each text masked, in one scan of them all (a match never spans two texts)."""
        if not self._automata or not texts:
            return list(texts)
        joined = _SEPARATOR_TEXT.join(texts)
        data = joined.encode("utf-8", "surrogatepass")
        spans, partial = self._spans(data)
        if not spans and not partial:
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
        prefixes: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for start, end in partial:  # a long form's prefix: cut at the end of its text
            index = bisect_right(starts, start) - 1
            base = starts[index]
            limit = starts[index + 1] - 1 if index + 1 < len(starts) else len(data)
            if start < limit:
                prefixes[index].append((start - base, min(end, limit) - base))
        out = list(texts)
        for index in pending.keys() | prefixes.keys():
            piece = data[starts[index] : starts[index] + _byte_length(starts, index, len(data))]
            masked = _mask(piece, pending.get(index, []), prefixes.get(index, []))
            out[index] = masked.decode("utf-8", "surrogatepass")
        return out


def _byte_length(starts: list[int], index: int, total: int) -> int:
    end = starts[index + 1] - 1 if index + 1 < len(starts) else total
    return end - starts[index]
