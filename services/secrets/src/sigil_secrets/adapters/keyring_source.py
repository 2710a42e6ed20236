"""Where the keyring comes from: inline settings, or a file re-read when it changes."""

import os
import time
from pathlib import Path

from sigil_secrets.domain.crypto import Keyring


class KeyringSource:
    """Yields the current keyring; a file source picks up ``sigil keys rotate`` without restart."""

    #: How often the keyring file is checked for changes.
    CHECK_INTERVAL = 1.0

    def __init__(self, *, inline: str | None = None, path: Path | None = None) -> None:
        self._inline = inline
        self._path = path
        self._checked = 0.0
        self._stamp: tuple[int, int] | None = None
        self._keyring = Keyring.parse(inline) if inline else None
        if self._keyring is None:
            self.get()

    def get(self) -> Keyring:
        """The keyring, re-parsed if its file changed since the last call."""
        if self._path is None:
            assert self._keyring is not None
            return self._keyring
        now = time.monotonic()
        if self._keyring is not None and now - self._checked < self.CHECK_INTERVAL:
            return self._keyring
        self._checked = now
        stat = os.stat(self._path)
        stamp = (stat.st_mtime_ns, stat.st_size)
        if self._keyring is None or stamp != self._stamp:
            self._keyring = Keyring.parse(self._path.read_text(encoding="utf-8"))
            self._stamp = stamp
        return self._keyring
