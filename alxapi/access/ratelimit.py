"""Rate limits (SPEC §4.4): a token's requests per local day, and failed authentications per address.

Both are counters in ``local_alx_api_counters``, raised by one conditional UPDATE before the answer
(exact in any number of API processes): a token's requests per local day, and an address block's
failed authentications per window. Failed authentications are counted per address, per /64 for IPv6, and only refuse further
failures: a valid token is never refused for its address. Requests refused for the limit itself, and GETs refused on the Moodle endpoint, do not use
up a token's budget.
"""

from __future__ import annotations

import ipaddress
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


def daily_limit_exceeded(token_ref: str, limit: int, now: int, zone: str) -> Exceeded | None:
    """Take one of the token's ``limit`` requests of today, or the refusal when none is left (0 means
    unlimited). Exact across processes: the count is raised only while below the limit, by one
    conditional UPDATE; a refused request takes nothing."""
    day_start = local_day_start(now, zone)
    # Unlimited requests are counted too: a limit set later the same day applies to the whole day.
    if _take(token_ref, day_start, limit if limit > 0 else None):
        return None
    return Exceeded(limit, limit, max(day_start + 86_400 - now, 1))


def _take(key: str, period_start: int, limit: int | None) -> bool:
    """Raise the counter of ``key`` in the period by one while it is below ``limit`` (always when
    None); False when the limit is reached. One conditional UPDATE, so concurrent callers in any
    number of processes never overshoot; the period's first call creates the row."""
    mine = (RequestCounter.token_ref == key) & (RequestCounter.day_start == period_start)
    below = mine if limit is None else mine & (RequestCounter.count < limit)
    for _ in range(2):
        if RequestCounter.update(count=RequestCounter.count + 1).where(below).execute():
            return True
        if RequestCounter.select().where(mine).exists():
            return False  # the period's budget is spent
        try:
            with RequestCounter._meta.database.atomic():
                RequestCounter.insert(token_ref=key, day_start=period_start, count=1).execute()
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
