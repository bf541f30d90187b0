"""The API's response cache: bounded by entries and by bytes, least recently used first out, entries
expire, and its byte count stays exact whatever the sequence of puts, gets and clears."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from alxapi.api.cache import ENTRY_OVERHEAD, ResponseCache, weight


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def page(kib: int) -> tuple:
    return (b"x" * (kib * 1024 - ENTRY_OVERHEAD),)  # exactly kib KiB with the overhead


def test_the_byte_bound_evicts_the_least_recently_used_pages():
    cache = ResponseCache(max_entries=1000, max_bytes=10 * 1024)
    for key in range(4):
        cache.put(key, page(3), 60)
    assert cache.get(0) is None  # 12 KiB > 10 KiB: the oldest went
    assert cache.stats.bytes == 9 * 1024 and cache.stats.entries == 3
    assert cache.get(1) is not None  # 1 is now the most recently used
    cache.put(4, page(3), 60)
    assert cache.get(2) is None and cache.get(1) is not None and cache.get(4) is not None


def test_a_page_larger_than_the_whole_cache_is_not_kept():
    cache = ResponseCache(max_entries=10, max_bytes=4 * 1024)
    cache.put("small", page(2), 60)
    cache.put("huge", page(8), 60)
    assert cache.get("huge") is None and cache.get("small") is not None


def test_the_entry_bound_still_applies():
    cache = ResponseCache(max_entries=2, max_bytes=1 << 30)
    for key in "abc":
        cache.put(key, page(1), 60)
    assert [cache.get(k) is not None for k in "abc"] == [False, True, True]


operations = st.lists(
    st.tuples(st.sampled_from(["put", "get", "clear", "tick"]), st.integers(0, 7), st.integers(1, 6)),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(operations)
def test_bytes_and_entries_are_exact_after_any_sequence(ops):
    clock = Clock()
    cache = ResponseCache(max_entries=5, max_bytes=12 * 1024, clock=clock)
    for op, key, size in ops:
        if op == "put":
            cache.put(key, page(size), ttl_seconds=size)
        elif op == "get":
            cache.get(key)
        elif op == "clear":
            cache.clear()
        else:
            clock.now += size
        held = list(cache._data.values())
        assert cache.stats.bytes == sum(weight(value) + ENTRY_OVERHEAD for _, value, _ in held)
        assert cache.stats.entries == len(held) <= 5 and cache.stats.bytes <= 12 * 1024
