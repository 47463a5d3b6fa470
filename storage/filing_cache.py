"""Filings this process loaded or wrote, reused while the database's `revision` matches.

Every change to a filing raises `filings.revision` in the same transaction (see
`FilingRepository`), whichever process or code path makes it, so a cached filing whose
revision equals the row's is exactly what a fresh load would return. A chat message then reads
one integer (taking the filing's row lock on PostgreSQL) instead of every answer; a cache that
is wrong can only be stale, and a stale entry is never used.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from dialogs.model import Filing
from dialogs.view import View


class FilingCache:
    """Also keeps the engine's view of each filing (what it worked out about it), which the
    next step of the engine takes up instead of working it out again."""

    def __init__(self, capacity: int = 4096, views: int = 512) -> None:
        self._capacity = capacity
        # Views hold many small objects: only the filings worked on lately keep theirs, so
        # that the collector's full passes stay short however many contacts there are.
        self._views = views
        self._viewed: OrderedDict[int, None] = OrderedDict()
        self._entries: OrderedDict[int, tuple[int, Filing, View | None]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, filing_id: int, revision: int) -> tuple[Filing, View | None] | None:
        with self._lock:
            entry = self._entries.get(filing_id)
            if entry is None or entry[0] != revision:
                self.misses += 1
                return None
            self._entries.move_to_end(filing_id)
            self.hits += 1
            return entry[1], entry[2]

    def put(self, filing_id: int, revision: int, filing: Filing, view: View | None = None) -> None:
        """Remembers the filing as committed at `revision` (call after the commit), and the
        engine's view of it if `view.filing is filing`."""
        if view is not None and view.filing is not filing:
            view = None
        with self._lock:
            self._entries[filing_id] = (revision, filing, view)
            if view is not None:
                self._viewed[filing_id] = None
                self._viewed.move_to_end(filing_id)
                while len(self._viewed) > self._views:
                    oldest, _ = self._viewed.popitem(last=False)
                    entry = self._entries.get(oldest)
                    if entry is not None:
                        self._entries[oldest] = (entry[0], entry[1], None)
            self._entries.move_to_end(filing_id)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def forget(self, filing_id: int) -> None:
        with self._lock:
            self._entries.pop(filing_id, None)
