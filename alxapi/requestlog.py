"""The request log (``local_alx_api_logs``): one row per API request, and the counts built on it.

Rate limits and failed-authentication throttling count rows here, so every API process sees the
same numbers. A row never holds a token or a query string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import peewee

from models.plugin import ApiLog

# Requests that do not use up a token's daily budget: refused for the limit itself, or GET refused.
NOT_COUNTED = ("ratelimitexceeded", "invalidrequestmethod")
AUTH_FAILURES = ("invalidtoken", "accessexception")


@dataclass
class LogEntry:
    endpoint: str
    timecreated: int
    ip_address: str = ""
    user_agent: str = ""
    token_ref: str = ""
    userid: int = 0
    companyid: int = 0
    company_shortname: str = ""
    record_count: int = 0
    error_code: str = ""
    error_message: str | None = None
    http_status: int = 200
    response_time_ms: float = 0.0
    cache_hit: bool = False
    extra: dict = field(default_factory=dict)


def write(entry: LogEntry) -> None:
    ApiLog.insert(
        endpoint=entry.endpoint[:100], timecreated=entry.timecreated, ip_address=entry.ip_address[:45],
        user_agent=entry.user_agent[:255], token_ref=entry.token_ref, userid=entry.userid,
        companyid=entry.companyid, company_shortname=entry.company_shortname[:100],
        record_count=entry.record_count, error_code=entry.error_code[:50], error_message=entry.error_message,
        http_status=entry.http_status, response_time_ms=round(entry.response_time_ms, 2),
        cache_hit=int(entry.cache_hit), additional_data=json.dumps(entry.extra) if entry.extra else None,
    ).execute()


def local_day_start(now: int, zone: str) -> int:
    """Epoch seconds of the local midnight that began the day containing ``now``."""
    local = datetime.fromtimestamp(now, ZoneInfo(zone))
    return int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())


def requests_since(token_ref: str, since: int) -> int:
    """Requests of a token since ``since`` that count against its rate limit."""
    return (ApiLog.select(peewee.fn.COUNT(ApiLog.id))
            .where((ApiLog.token_ref == token_ref) & (ApiLog.timecreated >= since)
                   & ApiLog.error_code.not_in(NOT_COUNTED))
            .scalar()) or 0


def auth_failures_since(ip: str, since: int) -> int:
    return (ApiLog.select(peewee.fn.COUNT(ApiLog.id))
            .where((ApiLog.ip_address == ip) & (ApiLog.timecreated >= since)
                   & ApiLog.error_code.in_(AUTH_FAILURES))
            .scalar()) or 0
