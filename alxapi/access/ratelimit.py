"""Rate limits (SPEC §4.4): a token's requests per local day, and failed authentications per address.

Both are counters in ``local_alx_api_counters``. A token's daily requests are counted in memory by
each API process (:class:`DailyBudgets`) and added to its row by the background writer, so that a
served request costs no write. Failed authentications are counted per address, per /64 for IPv6,
by one conditional UPDATE before the answer (exact in any number of processes), and only refuse
further failures: a valid token is never refused for its address. Requests refused for the limit
itself, and GETs refused on the Moodle endpoint, do not use up a token's budget.
"""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass

import peewee

from models.plugin import ApiLog, RequestCounter

from ..timefmt import local_day_start

# Requests that do not use up a token's daily budget: refused for the limit itself, or GET refused.
NOT_COUNTED = ("ratelimitexceeded", "invalidrequestmethod")
# What a failed authentication is logged as (the throttle and the monitoring count these).
AUTH_FAILURES = ("invalidtoken", "accessexception")


@dataclass(frozen=True)
class Exceeded:
    """A refusal: how much was used of what limit, and when to try again (seconds)."""

    used: int
    limit: int
    retry_after: int


def requests_since(token_ref: str, since: int) -> int:
    """Requests of a token since ``since`` that count against its rate limit."""
    return (ApiLog.select(peewee.fn.COUNT(ApiLog.id))
            .where((ApiLog.token_ref == token_ref) & (ApiLog.timecreated >= since)
                   & ApiLog.error_code.not_in(NOT_COUNTED))
            .scalar()) or 0  # fmt: skip


def used_today(token_ref: str, now: int, zone: str) -> int:
    """A token's counted requests since the local midnight (zone ``zone``) that began today."""
    return requests_since(token_ref, local_day_start(now, zone))


class DailyBudgets:
    """The daily rate limit of one API process without a write per request.

    Requests are counted in memory (under a lock: exact among this process's threads) and added to
    the shared counters by :meth:`flush`, which the background writer calls at least every second
    and at shutdown; each flush also reads back the counts of the tokens this process serves, so
    that it sees the other processes' requests. A token's first request of the day in a process
    reads its count once. Tolerance, documented in the README: one process is exact; several
    processes may together serve a token up to what the others served in their last two flush
    intervals (about 2 s) above its limit; a crash loses at most the unflushed second of counts.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._base: dict[tuple[str, int], int] = {}  # the shared count as last read
        self._inflight: dict[tuple[str, int], int] = {}  # being added to it by a flush
        self._pending: dict[tuple[str, int], int] = {}  # taken here since

    def take(self, token_ref: str, limit: int, now: int, zone: str) -> Exceeded | None:
        """Take one of the token's ``limit`` requests of today (0 = unlimited), or the refusal."""
        day_start = local_day_start(now, zone)
        key = (token_ref, day_start)
        with self._lock:
            if key not in self._base:
                row = RequestCounter.get_or_none(
                    (RequestCounter.token_ref == token_ref) & (RequestCounter.day_start == day_start)
                )
                self._base[key] = row.count if row else 0
            used = self._base[key] + self._inflight.get(key, 0) + self._pending.get(key, 0)
            if limit > 0 and used >= limit:
                return Exceeded(used, limit, max(day_start + 86_400 - now, 1))
            self._pending[key] = self._pending.get(key, 0) + 1
            return None

    def flush(self) -> int:
        """Add the pending counts to the shared counters and read the counts back; returns how many
        requests were written. On a database error the counts stay pending for the next flush."""
        with self._lock:
            if not self._base:
                return 0
            inflight, self._inflight, self._pending = self._pending, self._pending, {}
            keys = list(self._base)
        try:
            with RequestCounter._meta.database.atomic():  # all or nothing: a retry never adds twice
                for (token_ref, day_start), n in inflight.items():
                    _take(token_ref, day_start, None, n)
            latest = max(day for _, day in keys) - 86_400  # yesterday's counts are kept for late zones
            counts = {
                (r.token_ref, r.day_start): r.count
                for r in RequestCounter.select().where(
                    RequestCounter.token_ref.in_(sorted({k for k, _ in keys}))
                    & (RequestCounter.day_start >= latest)
                )
            }
        except Exception:
            with self._lock:
                for key, n in inflight.items():
                    self._pending[key] = self._pending.get(key, 0) + n
                self._inflight = {}
            raise
        with self._lock:
            read = set(keys)  # a key first seen during this flush keeps the count its take() read
            self._base = {
                key: counts.get(key, 0) if key in read else count
                for key, count in self._base.items()
                if key[1] >= latest
            }
            self._inflight = {}
        return sum(inflight.values())


def _take(key: str, period_start: int, limit: int | None, n: int = 1) -> bool:
    """Raise the counter of ``key`` in the period by ``n`` while it is below ``limit`` (always when
    None); False when the limit is reached. One conditional UPDATE, so concurrent callers in any
    number of processes never overshoot; the period's first call creates the row."""
    mine = (RequestCounter.token_ref == key) & (RequestCounter.day_start == period_start)
    below = mine if limit is None else mine & (RequestCounter.count < limit)
    for _ in range(2):
        if RequestCounter.update(count=RequestCounter.count + n).where(below).execute():
            return True
        if limit is not None and RequestCounter.select().where(mine).exists():
            return False  # the period's budget is spent
        try:
            with RequestCounter._meta.database.atomic():
                RequestCounter.insert(token_ref=key, day_start=period_start, count=n).execute()
            return True
        except peewee.IntegrityError:
            continue  # another process created the row at the same moment: take from it
    return False


def address_block(ip: str) -> str:
    """What failed authentications are counted by: the address, or its /64 for IPv6 (one subscriber
    gets a whole /64 and can rotate through it)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def failed_authentication(ip: str, now: int, limit: int, window_seconds: int) -> Exceeded | None:
    """Count a failed authentication of ``ip`` (its /64 for IPv6), or the refusal when its block
    already failed ``limit`` times in the current window (a refusal is not counted).

    Windows are fixed, ``window_seconds`` long and aligned to multiples of it, so that every API
    process names the same window: one counter row per block and window, raised by one conditional
    UPDATE (concurrent failures in any number of processes never overshoot)."""
    window_start = now - now % window_seconds
    if _take("auth:" + address_block(ip), window_start, limit):
        return None
    return Exceeded(limit, limit, max(window_start + window_seconds - now, 1))
