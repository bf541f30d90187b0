"""Rate limits (SPEC §4.4): a token's requests per local day, and failed authentications per address.

A token's requests are counted per local day in ``local_alx_api_counters``, taken before serving
(exact in any number of processes); failed authentications are counted in the request log
(``local_alx_api_logs``), so every API process sees the same numbers. Failed authentications are counted per address, per /64 for IPv6, and only refuse further
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


def _take(token_ref: str, day_start: int, limit: int | None) -> bool:
    mine = (RequestCounter.token_ref == token_ref) & (RequestCounter.day_start == day_start)
    below = mine if limit is None else mine & (RequestCounter.count < limit)
    for _ in range(2):
        raised = RequestCounter.update(count=RequestCounter.count + 1).where(below).execute()
        if raised:
            return True
        if RequestCounter.select().where(mine).exists():
            return False  # the day's budget is spent
        try:  # the token's first request today (another process may create the row at the same time)
            with RequestCounter._meta.database.atomic():
                RequestCounter.insert(token_ref=token_ref, day_start=day_start, count=1).execute()
            return True
        except peewee.IntegrityError:
            continue  # created by another process: take from it
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


def auth_failures_since(ip: str, since: int) -> int:
    """Failed authentications from ``ip`` (from its /64 for IPv6) since ``since``."""
    failed = (ApiLog.timecreated >= since) & ApiLog.error_code.in_(AUTH_FAILURES)
    block = address_block(ip)
    if "/" not in block:
        return (
            ApiLog.select(peewee.fn.COUNT(ApiLog.id)).where(failed & (ApiLog.ip_address == ip)).scalar() or 0
        )
    # IPv6 is stored as written (compressed or not): group the window's failures by address, then
    # keep those inside the /64. Only failures are read, and only on the failure path.
    network = ipaddress.ip_network(block)
    counts = (
        ApiLog.select(ApiLog.ip_address, peewee.fn.COUNT(ApiLog.id))
        .where(failed & ApiLog.ip_address.contains(":"))
        .group_by(ApiLog.ip_address)
    )
    return sum(n for address, n in counts.tuples() if address_block(address) == str(network))


def throttled(ip: str, now: int, limit: int, window_seconds: int) -> Exceeded | None:
    """The refusal when ``ip`` (its /64 for IPv6) failed authentication ``limit`` times within the window."""
    failures = auth_failures_since(ip, now - window_seconds)
    if failures < limit:
        return None
    return Exceeded(failures, limit, window_seconds)
