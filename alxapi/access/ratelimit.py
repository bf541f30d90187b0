"""Rate limits (SPEC §4.4): a token's requests per local day, and failed authentications per address.

Both are counted in the request log (``local_alx_api_logs``), so every API process sees the same
numbers. Requests refused for the limit itself, and GETs refused on the Moodle endpoint, do not use
up a token's budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import peewee

from models.plugin import ApiLog

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
    """The refusal when the token has used its ``limit`` requests today (0 means unlimited)."""
    if limit <= 0:
        return None
    day_start = local_day_start(now, zone)
    used = requests_since(token_ref, day_start)
    if used < limit:
        return None
    return Exceeded(used, limit, max(day_start + 86_400 - now, 1))


def auth_failures_since(ip: str, since: int) -> int:
    return (ApiLog.select(peewee.fn.COUNT(ApiLog.id))
            .where((ApiLog.ip_address == ip) & (ApiLog.timecreated >= since)
                   & ApiLog.error_code.in_(AUTH_FAILURES))
            .scalar()) or 0  # fmt: skip


def throttled(ip: str, now: int, limit: int, window_seconds: int) -> Exceeded | None:
    """The refusal when ``ip`` failed authentication ``limit`` times within the window."""
    failures = auth_failures_since(ip, now - window_seconds)
    if failures < limit:
        return None
    return Exceeded(failures, limit, window_seconds)
