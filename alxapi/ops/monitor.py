"""The figures behind the console's panes and the alert rules (SPEC §5, §6), as plain data.

Every function reads the database through the models with set-based SQL that works on SQLite,
MariaDB and PostgreSQL, over an explicit time window ``[since, until)`` of epoch seconds, and
returns dataclasses (or lists of them) that hold no database objects. Nothing here imports UI or
HTTP code: the console calls the pane functions (:func:`overview`, :func:`autosync`,
:func:`performance`, :func:`security`) in its worker threads, the alert rules call the window
functions (:func:`api_window`, :func:`calls_by_company`, :func:`failed_auth_by_ip`,
:func:`rate_limit_violations`, :func:`sync_runs_by_day`).

Definitions used throughout:

- a *call* is one row of the request log; an *error* is a call with an ``error_code``;
- rates are percentages (0-100), ``None`` when there is nothing to divide by;
- the cache hit rate is over calls answered with data (errors never reach the cache);
- a *failed authentication* is ``invalidtoken`` or ``accessexception`` (as the throttle counts
  them, :data:`alxapi.access.ratelimit.AUTH_FAILURES`); ``toomanyfailures`` (an address already
  throttled) is counted apart as *throttled*;
- a *rate-limit violation* is a call refused with ``ratelimitexceeded``.

Costs: the request-log queries are range scans of the ``timecreated`` index (or ``companyid,
timecreated`` for one company) bounded by the window; the sync-history and token tables are
small; the reporting table is read once per pane, grouped by company (``bench/tui.py`` measures
every pane on 1M log rows and 100k reporting rows).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import peewee
from peewee import Case, fn

from models.iomad import Company
from models.plugin import ApiLog, ApiToken, Reporting, SyncRun, SyncStatus

from ..access.ratelimit import AUTH_FAILURES
from ..alerts import lifecycle as alerts
from ..reporting.runner import full_sync_due
from ..timefmt import days_back, local_day_start, local_day_starts
from . import heartbeat

HOUR = 3600
DAY = 86_400
RATE_LIMITED = "ratelimitexceeded"
THROTTLED = "toomanyfailures"
GET_REFUSED = "invalidrequestmethod"  # GET on the Moodle endpoint while allow_get_method is off
OK_STATUSES = ("success", "partial")  # a partial run stopped at its time budget; it will resume


def _pct(part: float, whole: float) -> float | None:
    return None if not whole else round(100.0 * part / whole, 2)


def _int(value) -> int:
    return int(value or 0)


def _float(value) -> float:
    return float(value or 0)


def _in_window(since: int, until: int):
    return (ApiLog.timecreated >= int(since)) & (ApiLog.timecreated < int(until))


def company_names() -> dict[int, str]:
    """IOMAD company id -> name (the company table is small)."""
    return {int(i): n for i, n in Company.select(Company.id, Company.name).tuples()}


# --- request-log windows ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiWindow:
    """What the API did in ``[since, until)``, for every company or one."""

    since: int
    until: int
    companyid: int | None
    calls: int
    errors: int
    error_rate: float | None  # percent of calls
    avg_response_ms: float | None
    cache_hits: int
    cache_hit_rate: float | None  # percent of calls answered with data
    records: int  # rows served

    @property
    def served(self) -> int:
        """Calls answered with data."""
        return self.calls - self.errors

    @property
    def success_rate(self) -> float | None:
        return None if self.error_rate is None else round(100.0 - self.error_rate, 2)


def api_window(since: int, until: int, companyid: int | None = None) -> ApiWindow:
    """Calls, errors, response time, cache hits and records served in ``[since, until)``."""
    is_error = Case(None, [(ApiLog.error_code != "", 1)], 0)
    query = ApiLog.select(
        fn.COUNT(ApiLog.id),
        fn.SUM(is_error),
        fn.SUM(ApiLog.response_time_ms),
        fn.SUM(ApiLog.cache_hit),
        fn.SUM(ApiLog.record_count),
    ).where(_in_window(since, until))
    if companyid is not None:
        query = query.where(ApiLog.companyid == int(companyid))
    calls, errors, total_ms, hits, records = query.tuples().get()
    calls, errors, hits = _int(calls), _int(errors), _int(hits)
    return ApiWindow(
        since=int(since),
        until=int(until),
        companyid=companyid,
        calls=calls,
        errors=errors,
        error_rate=_pct(errors, calls),
        avg_response_ms=round(_float(total_ms) / calls, 2) if calls else None,
        cache_hits=hits,
        cache_hit_rate=_pct(hits, calls - errors),
        records=_int(records),
    )


def response_percentile(
    since: int, until: int, percent: float = 95.0, *, calls: int | None = None
) -> float | None:
    """Nearest-rank percentile of response times in the window (``calls``: the window's count, if known)."""
    if calls is None:
        calls = ApiLog.select(fn.COUNT(ApiLog.id)).where(_in_window(since, until)).scalar() or 0
    if not calls:
        return None
    rank = max(1, math.ceil(percent / 100.0 * calls))
    value = (
        ApiLog.select(ApiLog.response_time_ms)
        .where(_in_window(since, until))
        .order_by(ApiLog.response_time_ms)
        .limit(1)
        .offset(rank - 1)
        .scalar()
    )
    return None if value is None else round(float(value), 2)


@dataclass(frozen=True)
class CompanyCalls:
    companyid: int
    company: str
    calls: int
    errors: int
    records: int
    cache_hits: int
    avg_response_ms: float | None
    last_call: int

    @property
    def error_rate(self) -> float | None:
        return _pct(self.errors, self.calls)


def calls_by_company(since: int, until: int, limit: int | None = None) -> list[CompanyCalls]:
    """Calls per company in the window, most calls first (calls no company could be named for,
    such as failed authentications, are under company 0)."""
    is_error = Case(None, [(ApiLog.error_code != "", 1)], 0)
    # Grouped by an expression, not the column: otherwise SQLite prefers walking the (companyid,
    # timecreated) index and reading every row from the table over the covering window index.
    company = (ApiLog.companyid + 0).alias("cid")
    query = (
        ApiLog.select(
            company,
            fn.COUNT(ApiLog.id),
            fn.SUM(is_error),
            fn.SUM(ApiLog.record_count),
            fn.SUM(ApiLog.cache_hit),
            fn.SUM(ApiLog.response_time_ms),
            fn.MAX(ApiLog.timecreated),
        )
        .where(_in_window(since, until))
        .group_by(peewee.SQL("cid"))
    )
    rows = sorted(query.tuples(), key=lambda r: (-_int(r[1]), int(r[0])))  # one row per company: few
    names = company_names()
    out = []
    for companyid, n, errors, records, hits, total_ms, last in rows[:limit]:
        n = _int(n)
        out.append(
            CompanyCalls(
                int(companyid),
                names.get(int(companyid), "" if companyid else "(none)"),
                n,
                _int(errors),
                _int(records),
                _int(hits),
                round(_float(total_ms) / n, 2) if n else None,
                _int(last),
            )
        )
    return out


@dataclass(frozen=True)
class IpFailures:
    ip_address: str
    failures: int  # invalidtoken / accessexception
    throttled: int  # refused because the address was already throttled
    first_seen: int
    last_seen: int


def failed_auth_by_ip(since: int, until: int, threshold: int = 0) -> list[IpFailures]:
    """Failed authentications per client address in the window, most first; only addresses with
    more than ``threshold`` failures."""
    failed = Case(None, [(ApiLog.error_code.in_(AUTH_FAILURES), 1)], 0)
    throttled = Case(None, [(ApiLog.error_code == THROTTLED, 1)], 0)
    failures = fn.SUM(failed)
    query = (
        ApiLog.select(
            ApiLog.ip_address,
            failures,
            fn.SUM(throttled),
            fn.MIN(ApiLog.timecreated),
            fn.MAX(ApiLog.timecreated),
        )
        .where(_in_window(since, until) & ApiLog.error_code.in_((*AUTH_FAILURES, THROTTLED)))
        .group_by(ApiLog.ip_address)
        .having(failures > int(threshold))
        .order_by(failures.desc(), ApiLog.ip_address)
    )
    return [
        IpFailures(ip, _int(n), _int(t), _int(first), _int(last)) for ip, n, t, first, last in query.tuples()
    ]


@dataclass(frozen=True)
class GetAttempts:
    ip: str
    attempts: int


def get_attempts_by_ip(since: int, until: int) -> list[GetAttempts]:
    """GET requests refused on the Moodle endpoint (allow_get_method off), per client address."""
    count = fn.COUNT(ApiLog.id)
    query = (
        ApiLog.select(ApiLog.ip_address, count)
        .where(_in_window(since, until) & (ApiLog.error_code == GET_REFUSED))
        .group_by(ApiLog.ip_address)
        .order_by(count.desc(), ApiLog.ip_address)
    )
    return [GetAttempts(ip, int(n)) for ip, n in query.tuples()]


@dataclass(frozen=True)
class Violation:
    """Calls of one token refused for its daily rate limit."""

    token_ref: str
    token_name: str
    companyid: int
    company: str
    count: int
    first_seen: int
    last_seen: int


def _token_names(refs) -> dict[str, str]:
    ids = [int(r[2:]) for r in refs if r.startswith("m:") and r[2:].isdigit()]
    if not ids:
        return {}
    return {
        f"m:{i}": name
        for i, name in ApiToken.select(ApiToken.id, ApiToken.name).where(ApiToken.id.in_(ids)).tuples()
    }


def rate_limit_violations(since: int, until: int) -> list[Violation]:
    """Rate-limit refusals in the window per (token, company), most first."""
    count = fn.COUNT(ApiLog.id)
    query = (
        ApiLog.select(
            ApiLog.token_ref, ApiLog.companyid, count, fn.MIN(ApiLog.timecreated), fn.MAX(ApiLog.timecreated)
        )
        .where(_in_window(since, until) & (ApiLog.error_code == RATE_LIMITED))
        .group_by(ApiLog.token_ref, ApiLog.companyid)
        .order_by(count.desc(), ApiLog.token_ref, ApiLog.companyid)
    )
    rows = list(query.tuples())
    names, tokens = company_names(), _token_names({r[0] for r in rows})
    return [
        Violation(
            ref, tokens.get(ref, ""), int(cid), names.get(int(cid), ""), _int(n), _int(first), _int(last)
        )
        for ref, cid, n, first, last in rows
    ]


def _bucket_case(column, bounds: list[int]):
    """CASE mapping ``column`` to the index of its bucket (bounds: n+1 ascending edges)."""
    return Case(None, [(column < bounds[i + 1], i) for i in range(len(bounds) - 1)], len(bounds) - 1)


@dataclass(frozen=True)
class SeriesPoint:
    start: int
    calls: int
    avg_response_ms: float | None
    errors: int


def response_time_series(since: int, until: int, step: int = HOUR) -> list[SeriesPoint]:
    """Calls and average response time per ``step`` seconds from ``since`` (every bucket present)."""
    since, until = int(since), int(until)
    bounds = list(range(since, until, step)) + [until]
    if len(bounds) < 2:
        return []
    bucket = _bucket_case(ApiLog.timecreated, bounds).alias("bucket")
    is_error = Case(None, [(ApiLog.error_code != "", 1)], 0)
    query = (
        ApiLog.select(bucket, fn.COUNT(ApiLog.id), fn.SUM(ApiLog.response_time_ms), fn.SUM(is_error))
        .where(_in_window(since, until))
        .group_by(peewee.SQL("bucket"))
    )
    found = {int(b): (_int(n), _float(ms), _int(e)) for b, n, ms, e in query.tuples()}
    points = []
    for i, start in enumerate(bounds[:-1]):
        n, ms, errors = found.get(i, (0, 0.0, 0))
        points.append(SeriesPoint(start, n, round(ms / n, 2) if n else None, errors))
    return points


@dataclass(frozen=True)
class LoggedError:
    timecreated: int
    error_code: str
    companyid: int
    company: str
    ip_address: str
    endpoint: str
    message: str
    id: int = 0


def recent_errors(since: int, until: int, limit: int = 20) -> list[LoggedError]:
    """The newest failed calls in the window."""
    query = (
        ApiLog.select(
            ApiLog.id,
            ApiLog.timecreated,
            ApiLog.error_code,
            ApiLog.companyid,
            ApiLog.ip_address,
            ApiLog.endpoint,
            ApiLog.error_message,
        )
        .where(_in_window(since, until) & (ApiLog.error_code != ""))
        .order_by(ApiLog.timecreated.desc(), ApiLog.id.desc())
        .limit(limit)
    )
    rows = list(query.tuples())
    names = company_names() if rows else {}
    return [
        LoggedError(_int(t), code, int(cid), names.get(int(cid), ""), ip, endpoint, msg or "", int(i))
        for i, t, code, cid, ip, endpoint, msg in rows
    ]


def errors_by_code(since: int, until: int) -> dict[str, int]:
    """Failed calls per error code in the window, most first."""
    count = fn.COUNT(ApiLog.id)
    query = (
        ApiLog.select(ApiLog.error_code, count)
        .where(_in_window(since, until) & (ApiLog.error_code != ""))
        .group_by(ApiLog.error_code)
        .order_by(count.desc(), ApiLog.error_code)
    )
    return {code: _int(n) for code, n in query.tuples()}


def distinct_tokens(since: int, until: int) -> int:
    """Tokens that made at least one authenticated call in the window."""
    return (
        ApiLog.select(fn.COUNT(ApiLog.token_ref.distinct()))
        .where(_in_window(since, until) & (ApiLog.token_ref != ""))
        .scalar()
    ) or 0


def active_tokens(now: int) -> int:
    """Managed tokens neither revoked nor expired."""
    return (
        ApiToken.select(fn.COUNT(ApiToken.id))
        .where((ApiToken.revoked_at == 0) & ((ApiToken.expires_at == 0) | (ApiToken.expires_at >= int(now))))
        .scalar()
    ) or 0


# --- sync history -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayRuns:
    """Sync runs started on one local day."""

    day_start: int
    day: str  # YYYY-MM-DD in the configured zone
    success: int
    partial: int
    failed: int
    running: int

    @property
    def total(self) -> int:
        return self.success + self.partial + self.failed + self.running

    @property
    def success_rate(self) -> float | None:
        """Share of finished runs that succeeded (a partial run counts: it resumes next time)."""
        return _pct(self.success + self.partial, self.success + self.partial + self.failed)


def sync_runs_by_day(since: int, until: int, tz: str) -> list[DayRuns]:
    """Sync runs per local day (zone ``tz``) for every day overlapping ``[since, until)``, oldest
    first, days without runs included. Runs are counted on the day they started."""
    starts = local_day_starts(since, until, tz)
    if not starts:
        return []
    bounds = [*starts, max(int(until), starts[-1] + 1)]
    bucket = _bucket_case(SyncRun.timestarted, bounds).alias("bucket")
    query = (
        SyncRun.select(bucket, SyncRun.status, fn.COUNT(SyncRun.id))
        .where((SyncRun.timestarted >= int(since)) & (SyncRun.timestarted < int(until)))
        .group_by(peewee.SQL("bucket"), SyncRun.status)
    )
    counts: dict[int, dict[str, int]] = {}
    for b, status, n in query.tuples():
        counts.setdefault(int(b), {})[status] = _int(n)
    zone = ZoneInfo(tz)
    out = []
    for i, start in enumerate(starts):
        c = counts.get(i, {})
        out.append(
            DayRuns(
                start,
                datetime.fromtimestamp(start, zone).strftime("%Y-%m-%d"),
                c.get("success", 0),
                c.get("partial", 0),
                c.get("failed", 0),
                c.get("running", 0),
            )
        )
    return out


@dataclass(frozen=True)
class RunInfo:
    id: int
    mode: str
    companyid: int
    status: str
    timestarted: int
    timefinished: int
    created: int
    updated: int
    deleted: int
    unchanged: int
    duration_ms: int
    error: str | None

    @property
    def changed(self) -> int:
        return self.created + self.updated + self.deleted


_RUN_FIELDS = (
    SyncRun.id,
    SyncRun.mode,
    SyncRun.companyid,
    SyncRun.status,
    SyncRun.timestarted,
    SyncRun.timefinished,
    SyncRun.created,
    SyncRun.updated,
    SyncRun.deleted,
    SyncRun.unchanged,
    SyncRun.duration_ms,
    SyncRun.error,
)


def _run(query) -> RunInfo | None:
    row = (
        query.select(*_RUN_FIELDS)
        .order_by(SyncRun.timestarted.desc(), SyncRun.id.desc())
        .limit(1)
        .tuples()
        .first()
    )
    return None if row is None else RunInfo(*row)


def last_run(*, status: tuple[str, ...] | None = None, mode: str | None = None) -> RunInfo | None:
    """The latest sync run (optionally of these statuses / this mode)."""
    query = SyncRun.select()
    if status:
        query = query.where(SyncRun.status.in_(status))
    if mode:
        query = query.where(SyncRun.mode == mode)
    return _run(query)


def consecutive_failures(limit: int = 50) -> int:
    """How many of the latest finished runs failed in a row."""
    n = 0
    for (status,) in (
        SyncRun.select(SyncRun.status)
        .where(SyncRun.status != "running")
        .order_by(SyncRun.timestarted.desc(), SyncRun.id.desc())
        .limit(limit)
        .tuples()
    ):
        if status != "failed":
            break
        n += 1
    return n


@dataclass(frozen=True)
class NextSync:
    at: int  # epoch seconds; <= now means due now
    mode: str  # incremental | full


def _worker_planned(job: str, now: int) -> int | None:
    """When a live worker plans to run ``job`` next (from its heartbeat), or None."""
    planned = [
        b["info"].get("next", {}).get(job) for b in heartbeat.latest(heartbeat.WORKER, now=now) if b["alive"]
    ]
    planned = [int(p) for p in planned if p]
    return min(planned) if planned else None


def next_sync(now: int, auto_sync_hours: float, full_sync_hours: float) -> NextSync:
    """When the worker's next sync is due: what a live worker's heartbeat says it planned, else the
    latest run's start + ``auto_sync_hours`` (now if there was none); full or incremental by the
    worker's own rule (:func:`alxapi.reporting.runner.full_sync_due`)."""
    planned = _worker_planned("sync", now)
    latest = last_run()
    if planned is not None:
        at = planned
    else:
        at = int(now) if latest is None else latest.timestarted + round(auto_sync_hours * HOUR)
    return NextSync(at, "full" if full_sync_due(at, full_sync_hours) else "incremental")


# --- companies ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompanySync:
    """One company's line in the Auto-Sync table."""

    companyid: int
    company: str
    rows: int  # live reporting rows
    removed: int  # tombstoned rows
    last_change: int  # last_updated of its newest change (0: none)
    tokens: int  # tokens that have read the Moodle endpoint
    last_pass: int  # when a client last completed (or started) a pass
    pass_status: str  # the latest pass's status ("" when none)
    pass_records: int


def reporting_by_company() -> dict[int, tuple[int, int, int]]:
    """company id -> (live rows, tombstoned rows, last change time), one grouped scan."""
    live = Case(None, [(Reporting.is_deleted == 0, 1)], 0)
    query = Reporting.select(
        Reporting.companyid, fn.SUM(live), fn.COUNT(Reporting.id), fn.MAX(Reporting.last_updated)
    ).group_by(Reporting.companyid)
    return {int(c): (_int(n), _int(total) - _int(n), _int(last)) for c, n, total, last in query.tuples()}


def company_sync_table() -> list[CompanySync]:
    """Every company (IOMAD's, plus any still holding reporting rows) with its rows and the state
    of its API clients' passes, by company id."""
    names = company_names()
    reporting = reporting_by_company()
    passes: dict[int, list[tuple]] = {}
    for row in SyncStatus.select(
        SyncStatus.companyid,
        SyncStatus.last_sync_timestamp,
        SyncStatus.done_at,
        SyncStatus.last_sync_status,
        SyncStatus.last_sync_records,
    ).tuples():
        passes.setdefault(int(row[0]), []).append(row)
    out = []
    for cid in sorted(set(names) | set(reporting)):
        rows, removed, last_change = reporting.get(cid, (0, 0, 0))
        states = passes.get(cid, [])
        latest = max(states, key=lambda r: (max(_int(r[1]), _int(r[2])), r[3]), default=None)
        out.append(
            CompanySync(
                cid,
                names.get(cid, ""),
                rows,
                removed,
                last_change,
                len(states),
                0 if latest is None else max(_int(latest[1]), _int(latest[2])),
                "" if latest is None else latest[3],
                0 if latest is None else _int(latest[4]),
            )
        )
    return out


# --- the panes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerState:
    alive: bool
    last_beat: int  # 0: never
    hosts: int


def worker_state(now: int, stale_after: int = 90) -> WorkerState:
    beats = heartbeat.latest(heartbeat.WORKER, now=now, stale_after=stale_after)
    return WorkerState(
        any(b["alive"] for b in beats), max((b["timebeat"] for b in beats), default=0), len(beats)
    )


def database_latency_ms() -> float:
    """Round trip of a trivial query on the current connection."""
    db = Reporting._meta.database
    started = time.perf_counter()
    db.execute_sql("SELECT 1").fetchone()
    return round((time.perf_counter() - started) * 1000, 2)


@dataclass(frozen=True)
class Overview:
    """The Control Center."""

    now: int
    day_start: int  # local midnight that began today
    db_latency_ms: float
    worker: WorkerState
    today: ApiWindow
    companies: int  # IOMAD companies
    companies_with_rows: int
    companies_with_calls: int  # today, authenticated
    alerts_open: dict[str, int]
    last_sync: RunInfo | None
    next_sync: NextSync
    active_tokens: int

    @property
    def alerts_pending(self) -> int:
        return sum(self.alerts_open.values())

    @property
    def healthy(self) -> bool:
        failed = self.last_sync is not None and self.last_sync.status == "failed"
        return self.worker.alive and not failed and not self.alerts_open.get("critical")


def overview(now: int, config) -> Overview:
    """System health and today's figures (today = since local midnight in ``config.timezone``)."""
    latency = database_latency_ms()
    day_start = local_day_start(now, config.timezone)
    today = api_window(day_start, now + 1)
    with_calls = (
        ApiLog.select(fn.COUNT(ApiLog.companyid.distinct()))
        .where(_in_window(day_start, now + 1) & (ApiLog.companyid != 0))
        .scalar()
    ) or 0
    with_rows = (
        Reporting.select(fn.COUNT(Reporting.companyid.distinct())).where(Reporting.is_deleted == 0).scalar()
    ) or 0
    return Overview(
        now=int(now),
        day_start=day_start,
        db_latency_ms=latency,
        worker=worker_state(now),
        today=today,
        companies=Company.select().count(),
        companies_with_rows=int(with_rows),
        companies_with_calls=int(with_calls),
        alerts_open=alerts.open_counts(),
        last_sync=last_run(),
        next_sync=next_sync(now, config.auto_sync_hours, config.full_sync_hours),
        active_tokens=active_tokens(now),
    )


@dataclass(frozen=True)
class AutoSyncPane:
    now: int
    companies: int
    companies_with_rows: int
    last_sync: RunInfo | None
    last_success: RunInfo | None
    next_sync: NextSync
    worker: WorkerState
    consecutive_failures: int
    days: list[DayRuns] = field(default_factory=list)  # the 7-day trend, oldest first
    table: list[CompanySync] = field(default_factory=list)

    @property
    def week_success_rate(self) -> float | None:
        ok = sum(d.success + d.partial for d in self.days)
        return _pct(ok, ok + sum(d.failed for d in self.days))


def autosync(now: int, config, days: int = 7) -> AutoSyncPane:
    """Monitoring › Auto-Sync: cards, the success trend over ``days`` local days, the company table."""
    since = days_back(now, days, config.timezone)
    table = company_sync_table()
    return AutoSyncPane(
        now=int(now),
        companies=len(table),
        companies_with_rows=sum(1 for c in table if c.rows),
        last_sync=last_run(),
        last_success=last_run(status=OK_STATUSES),
        next_sync=next_sync(now, config.auto_sync_hours, config.full_sync_hours),
        worker=worker_state(now),
        consecutive_failures=consecutive_failures(),
        days=sync_runs_by_day(since, now + 1, config.timezone),
        table=table,
    )


@dataclass(frozen=True)
class PerformancePane:
    now: int
    window: ApiWindow  # the last 24 hours
    p95_response_ms: float | None
    series: list[SeriesPoint]  # 24 hourly points, oldest first (the last one is the current hour)
    top: list[CompanyCalls]


def performance(now: int, config=None, top: int = 10) -> PerformancePane:
    """Monitoring › Performance: the last 24 hours."""
    until = int(now) + 1
    since = until - DAY
    window = api_window(since, until)
    hour = (int(now) // HOUR) * HOUR
    return PerformancePane(
        now=int(now),
        window=window,
        p95_response_ms=response_percentile(since, until, 95, calls=window.calls),
        series=response_time_series(hour - 23 * HOUR, hour + HOUR),
        top=calls_by_company(since, until, limit=top),
    )


@dataclass(frozen=True)
class SecurityPane:
    now: int
    since: int
    active_tokens: int
    tokens_used: int  # distinct tokens with calls in the last 24 h
    violations: list[Violation]
    failed_auth: int
    throttled: int
    suspicious: list[IpFailures]  # addresses over the failed-auth limit in the window
    by_ip: list[IpFailures]
    errors: list[LoggedError]
    errors_by_code: dict[str, int]

    @property
    def violation_count(self) -> int:
        return sum(v.count for v in self.violations)


def security(now: int, config, errors: int = 20) -> SecurityPane:
    """Monitoring › Security: the last 24 hours. An address is suspicious when its failures
    exceed the throttle's limit (``failed_auth_limit``) within the window."""
    until = int(now) + 1
    since = until - DAY
    by_ip = failed_auth_by_ip(since, until)
    limit = getattr(config, "failed_auth_limit", 20)
    return SecurityPane(
        now=int(now),
        since=since,
        active_tokens=active_tokens(now),
        tokens_used=distinct_tokens(since, until),
        violations=rate_limit_violations(since, until),
        failed_auth=sum(i.failures for i in by_ip),
        throttled=sum(i.throttled for i in by_ip),
        suspicious=[i for i in by_ip if i.failures > limit],
        by_ip=by_ip,
        errors=recent_errors(since, until, errors),
        errors_by_code=errors_by_code(since, until),
    )


# Imported by name from the alert rules; keep these stable.
__all__ = [
    "ApiWindow",
    "AutoSyncPane",
    "CompanyCalls",
    "CompanySync",
    "DayRuns",
    "IpFailures",
    "LoggedError",
    "NextSync",
    "Overview",
    "PerformancePane",
    "RunInfo",
    "SecurityPane",
    "SeriesPoint",
    "Violation",
    "WorkerState",
    "active_tokens",
    "api_window",
    "autosync",
    "calls_by_company",
    "company_names",
    "company_sync_table",
    "consecutive_failures",
    "database_latency_ms",
    "days_back",
    "distinct_tokens",
    "errors_by_code",
    "failed_auth_by_ip",
    "last_run",
    "local_day_starts",
    "next_sync",
    "overview",
    "performance",
    "rate_limit_violations",
    "recent_errors",
    "reporting_by_company",
    "response_percentile",
    "response_time_series",
    "security",
    "sync_runs_by_day",
    "worker_state",
]
