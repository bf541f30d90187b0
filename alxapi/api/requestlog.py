"""The request log (``local_alx_api_logs``): one row per API request.

Rate limits and failed-authentication throttling count rows here (:mod:`alxapi.access.ratelimit`),
and the monitoring panes and alert rules read it (:mod:`alxapi.ops.monitor`). A row never holds a
token or a query string.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

from models.db import quote
from models.plugin import ApiLog

from ..access.tokens import Principal
from .errors import ApiError


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

    def identify(self, principal: Principal) -> None:
        """Who made the request, once the token is known."""
        self.token_ref, self.userid = principal.token_ref, principal.userid
        self.companyid, self.company_shortname = principal.companyid, principal.company_shortname

    def fail(self, err: ApiError) -> None:
        """The request was answered with ``err``: its code, and its message with the reason the client
        may not see (``debuginfo`` is sent only with api_debug) so the operator can."""
        self.error_code, self.http_status = err.code, err.kind.status
        self.error_message = f"{err.message} ({err.debuginfo})" if err.debuginfo else err.message


class RequestLog:
    """Log rows noted by the request path and written in batches by :meth:`flush` (the background
    writer calls it at least every second and at shutdown: a crash loses at most that second).

    While the database is unreachable rows wait here, up to ``max_pending``; beyond that new rows
    are dropped and counted, so an outage cannot exhaust the memory."""

    CHUNK = 500

    def __init__(self, max_pending: int = 100_000) -> None:
        self.max_pending = max_pending
        self.dropped = 0
        self._lock = threading.Lock()
        self._pending: list[LogEntry] = []

    def add(self, entry: LogEntry) -> None:
        with self._lock:
            if len(self._pending) < self.max_pending:
                self._pending.append(entry)
            else:
                self.dropped += 1

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Write the noted rows; returns how many. On a database error they stay for the next flush."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        try:
            with ApiLog._meta.database.atomic():
                for i in range(0, len(batch), self.CHUNK):
                    _insert_rows(batch[i : i + self.CHUNK])
        except Exception:
            with self._lock:
                self._pending[:0] = batch[: max(self.max_pending - len(self._pending), 0)]
            raise
        return len(batch)


def _insert_rows(entries: list[LogEntry]) -> None:
    """One multi-row INSERT written directly: peewee's insert_many spent more time compiling the
    statement (a node per value) than the database took to run it, on the API process's GIL."""
    db = ApiLog._meta.database
    fields = [ApiLog._meta.fields[name] for name in _COLUMNS]
    values: list = []
    for entry in entries:
        row = _row(entry)
        values.extend(field.db_value(row[field.name]) for field in fields)
    placeholders = "(" + ", ".join([db.param] * len(fields)) + ")"
    db.execute_sql(
        f"INSERT INTO {quote(ApiLog._meta.table_name, db)} "
        f"({', '.join(quote(f.column_name, db) for f in fields)}) "
        f"VALUES {', '.join([placeholders] * len(entries))}",
        values,
    )


def write(entry: LogEntry) -> None:
    """One row at once (tests that seed the log; the API notes its rows in a :class:`RequestLog`)."""
    ApiLog.insert(**_row(entry)).execute()


_COLUMNS = (
    "endpoint",
    "timecreated",
    "ip_address",
    "user_agent",
    "token_ref",
    "userid",
    "companyid",
    "company_shortname",
    "record_count",
    "error_code",
    "error_message",
    "http_status",
    "response_time_ms",
    "cache_hit",
    "additional_data",
)


def _row(entry: LogEntry) -> dict:
    return dict(
        endpoint=entry.endpoint[:100],
        timecreated=entry.timecreated,
        ip_address=entry.ip_address[:45],
        user_agent=entry.user_agent[:255],
        token_ref=entry.token_ref,
        userid=entry.userid,
        companyid=entry.companyid,
        company_shortname=entry.company_shortname[:100],
        record_count=entry.record_count,
        error_code=entry.error_code[:50],
        error_message=entry.error_message,
        http_status=entry.http_status,
        response_time_ms=round(entry.response_time_ms, 2),
        cache_hit=int(entry.cache_hit),
        additional_data=json.dumps(entry.extra) if entry.extra else None,
    )
