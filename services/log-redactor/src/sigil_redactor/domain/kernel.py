"""The masking kernel: one compiled multi-pattern automaton over UTF-8 bytes.

Built on ahocorasick-rs (Rust, DFA). Matches are found *overlapping* and merged, so no
part of any secret stays visible even when secrets overlap or one is a prefix of another
(Go's ``strings.Replacer`` in key order leaks the tail of the longer one).
"""

from collections.abc import Iterable

import ahocorasick_rs

from sigil_redactor.domain.forms import all_forms

MASK = "********"
_MASK_BYTES = MASK.encode()


def _to_bytes(text: str) -> bytes:
    # surrogatepass: a lone surrogate in the input is kept (and never matched by a secret).
    return text.encode("utf-8", "surrogatepass")


class Redactor:
    """``Redactor(values).redact(text)``: every occurrence of every form becomes ``********``."""

    def __init__(self, values: Iterable[str], *, min_length: int = 4) -> None:
        patterns = sorted(all_forms(values, min_length=min_length))
        self.pattern_count = len(patterns)
        self._automaton = (
            ahocorasick_rs.BytesAhoCorasick(
                [_to_bytes(p) for p in patterns],
                matchkind=ahocorasick_rs.MatchKind.Standard,
                implementation=ahocorasick_rs.Implementation.DFA,
            )
            if patterns
            else None
        )

    def redact(self, text: str) -> str:
        """The text with every secret form masked; never raises on content."""
        if self._automaton is None or not text:
            return text
        data = _to_bytes(text)
        matches = self._automaton.find_matches_as_indexes(data, overlapping=True)
        if not matches:
            return text
        return self._mask(data, matches).decode("utf-8", "surrogatepass")

    @staticmethod
    def _mask(data: bytes, matches: list[tuple[int, int, int]]) -> bytes:
        spans = sorted((start, end) for _, start, end in matches)
        out = bytearray()
        cursor = 0
        current_start, current_end = spans[0]
        for start, end in spans[1:]:
            if start < current_end:  # overlapping: one mask
                current_end = max(current_end, end)
                continue
            out += data[cursor:current_start] + _MASK_BYTES
            cursor = current_end
            current_start, current_end = start, end
        out += data[cursor:current_start] + _MASK_BYTES + data[current_end:]
        return bytes(out)
