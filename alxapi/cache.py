"""In-process response cache: bounded LRU with per-entry TTL and hit/miss accounting.

Keys carry the company's data version (the highest change sequence of its rows), so a sync that
changes a company's data makes its old entries unreachable at once — in every API process — and
the LRU bound evicts them eventually. Nothing here can serve stale data after a sync.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    entries: int = 0
    evictions: int = 0


class ResponseCache:
    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic):
        self.max_entries = max_entries
        self.clock = clock
        self._data: OrderedDict[Hashable, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = CacheStats()

    def get(self, key: Hashable):
        with self._lock:
            item = self._data.get(key)
            if item is None or item[0] < self.clock():
                if item is not None:
                    del self._data[key]
                self.stats.misses += 1
                return None
            self._data.move_to_end(key)
            self.stats.hits += 1
            return item[1]

    def put(self, key: Hashable, value: object, ttl_seconds: float) -> None:
        if self.max_entries <= 0 or ttl_seconds <= 0:
            return
        with self._lock:
            self._data[key] = (self.clock() + ttl_seconds, value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)
                self.stats.evictions += 1
            self.stats.entries = len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.stats.entries = 0
