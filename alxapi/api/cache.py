"""In-process response cache: LRU bounded by entries and by bytes, with per-entry TTL and hit/miss
accounting. Pages are cached as their encoded bytes, so the byte bound is the memory bound: a few
large pages (1,000 rows of long names) cannot grow a process by hundreds of MB under the entry bound.

Keys carry the company's data version (the highest change sequence of its rows), so a sync that
changes a company's data makes its old entries unreachable at once — in every API process — and
the LRU bound evicts them eventually. Nothing here can serve stale data after a sync.

:func:`clear_all` ("clear cache" in the console) empties the cache table and raises the cache
epoch, which is part of every key too (read with the data version, ``feed.company_state``): every
API process stops serving what it cached before, without being told.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import peewee

from models.plugin import Cache, State

from .. import audit
from .feed import CACHE_EPOCH

# What an entry costs beyond its bytes: the key tuple, the value tuple, the dict slot, the TTL.
ENTRY_OVERHEAD = 512


def weight(value: object) -> int:
    """Bytes an entry holds, to within its small fixed overhead: the encoded pages it carries."""
    if isinstance(value, bytes | bytearray | str):
        return len(value)
    if isinstance(value, tuple | list):
        return sum(weight(v) for v in value)
    return 16


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    entries: int = 0
    evictions: int = 0
    bytes: int = 0


class ResponseCache:
    def __init__(
        self, max_entries: int, max_bytes: int = 64 << 20, clock: Callable[[], float] = time.monotonic
    ):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.clock = clock
        self._data: OrderedDict[Hashable, tuple[float, object, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = CacheStats()

    def get(self, key: Hashable):
        with self._lock:
            item = self._data.get(key)
            if item is None or item[0] < self.clock():
                if item is not None:
                    self._drop(key)
                self.stats.misses += 1
                return None
            self._data.move_to_end(key)
            self.stats.hits += 1
            return item[1]

    def put(self, key: Hashable, value: object, ttl_seconds: float) -> None:
        if self.max_entries <= 0 or ttl_seconds <= 0:
            return
        size = weight(value) + ENTRY_OVERHEAD
        if size > self.max_bytes:
            return  # one page larger than the whole cache: serve it, keep nothing
        with self._lock:
            if key in self._data:
                self._drop(key)
            self._data[key] = (self.clock() + ttl_seconds, value, size)
            self.stats.bytes += size
            while len(self._data) > self.max_entries or self.stats.bytes > self.max_bytes:
                self._drop(next(iter(self._data)))
                self.stats.evictions += 1
            self.stats.entries = len(self._data)

    def _drop(self, key: Hashable) -> None:
        self.stats.bytes -= self._data.pop(key)[2]
        self.stats.entries = len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.stats.entries = 0
            self.stats.bytes = 0


@dataclass(frozen=True)
class Cleared:
    table_entries: int  # rows removed from the cache table
    epoch: int  # the new cache epoch


def clear_all(actor: str, now: int) -> Cleared:
    """Empty the cache table and raise the cache epoch, in one transaction (audited)."""
    db = State._meta.database
    with db.atomic():
        removed = Cache.delete().execute()
        raised = (
            State.update(value_int=State.value_int + 1, timemodified=int(now))
            .where(State.name == CACHE_EPOCH)
            .execute()
        )
        if not raised:
            try:
                with db.atomic():
                    State.insert(name=CACHE_EPOCH, value_int=1, timemodified=int(now)).execute()
            except peewee.IntegrityError:  # another process created it first
                (
                    State.update(value_int=State.value_int + 1, timemodified=int(now))
                    .where(State.name == CACHE_EPOCH)
                    .execute()
                )
        epoch = State.get(State.name == CACHE_EPOCH).value_int
        audit.record(actor, "cache.clear", "cache", {"table_entries": removed, "epoch": epoch}, now)
    return Cleared(int(removed), int(epoch))
