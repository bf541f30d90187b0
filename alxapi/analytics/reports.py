"""The built-in reports (SPEC §8.4): one registry that the CLI, the API, the console and the
scheduler all read.

A :class:`Report` has a name, a title, typed :class:`Column` s and :class:`Param` s, and a ``run``
that returns its rows (tuples in column order, already in the report's order). ``key`` names the
columns whose values order the rows uniquely: the API's cursors are those values of a page's last
row, so paging stays exact while the data changes between pages.

Typical use::

    report = get_report("at-risk")
    params = report.parse_params({"days": "14"})
    rows = report.run(RunContext(companyid=3, now=clock.now(), config=config), params)
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from peewee import JOIN, fn

from models.analytics import UserTimeDaily
from models.iomad import CompanyUser
from models.moodle import User, UserLastaccess
from models.plugin import Reporting

from .engagement import DAY, EngagementRow, Rules, engagement_rows, local_today, round2, window

# Column types: how each front end shows a value (JSON keeps the native value).
INT, FLOAT, TEXT, BOOL, TIME, DATE, LIST = "int", "float", "text", "bool", "time", "date", "list"


class ReportError(ValueError):
    """A report or parameter that cannot be used as given; ``str()`` says what to do."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    title: str


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # INT or DATE
    help: str
    default: Callable[[RunContext], Any]
    min: int | None = None
    max: int | None = None

    def parse(self, text: str) -> Any:
        if self.type == DATE:
            try:
                return date.fromisoformat(text.strip()).isoformat()
            except ValueError:
                raise ReportError(f"{self.name} must be a date YYYY-MM-DD, not {text!r}") from None
        try:
            value = int(text.strip())
        except ValueError:
            raise ReportError(f"{self.name} must be a whole number, not {text!r}") from None
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise ReportError(f"{self.name} must be between {self.min} and {self.max}")
        return value


@dataclass(frozen=True)
class RunContext:
    """Who the report is for and when: one company (None: all companies, operators only)."""

    companyid: int | None
    now: int
    config: Any

    @property
    def zone(self) -> str:
        return self.config.timezone

    @property
    def rules(self) -> Rules:
        return Rules.from_config(self.config)


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    produce: Callable[[RunContext, Mapping[str, Any]], list[tuple]]
    params: tuple[Param, ...] = ()
    chart: str | None = None  # "trends": exporters that can draw it do
    builtin: bool = True

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def parse_params(self, given: Mapping[str, str], ctx: RunContext | None = None) -> dict[str, Any]:
        """``given`` (text from a flag or a query string) checked against the parameters; missing ones
        take their defaults when ``ctx`` is given."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            names = ", ".join(known) or "none"
            raise ReportError(f"report {self.name} has no parameter {unknown[0]!r} (parameters: {names})")
        values = {name: known[name].parse(text) for name, text in given.items()}
        if ctx is not None:
            for p in self.params:
                values.setdefault(p.name, p.default(ctx))
        return values

    def run(self, ctx: RunContext, given: Mapping[str, str] | None = None) -> list[tuple]:
        """The rows, in the report's order. Runs in the caller's database connection."""
        return self.produce(ctx, self.parse_params(given or {}, ctx))

    def key_of(self, row: tuple) -> list:
        index = self.column_names
        return [row[index.index(name)] for name in self.key]


# --- engagement and at-risk -----------------------------------------------------------------------

ENGAGEMENT_COLUMNS = (
    Column("companyid", INT, "Company"),
    Column("userid", INT, "User"),
    Column("courseid", INT, "Course"),
    Column("firstname", TEXT, "First name"),
    Column("lastname", TEXT, "Last name"),
    Column("coursename", TEXT, "Course name"),
    Column("time_spent", INT, "Time spent (s)"),
    Column("active_days", INT, "Active days"),
    Column("interactions", INT, "Interactions"),
    Column("completion", FLOAT, "Completion %"),
    Column("days_since_access", INT, "Days since access"),
    Column("engagement", FLOAT, "Engagement"),
    Column("risk_score", INT, "Risk"),
    Column("at_risk", BOOL, "At risk"),
    Column("risk_reasons", LIST, "Reasons"),
)


def _engagement_tuple(row: EngagementRow) -> tuple:
    s = row.score
    return (
        row.companyid,
        row.userid,
        row.courseid,
        row.firstname,
        row.lastname,
        row.coursename,
        row.time_spent,
        row.active_days,
        row.interactions,
        row.percentage,
        row.days_since_access,
        s.engagement,
        s.risk_score,
        s.at_risk,
        list(s.reasons),
    )


def _engagement(ctx: RunContext, params: Mapping[str, Any]) -> list[tuple]:
    rows = engagement_rows(ctx.companyid, now=ctx.now, zone=ctx.zone, rules=ctx.rules)
    return [_engagement_tuple(r) for r in rows]


def _at_risk(ctx: RunContext, params: Mapping[str, Any]) -> list[tuple]:
    rows = [
        r
        for r in engagement_rows(ctx.companyid, now=ctx.now, zone=ctx.zone, rules=ctx.rules)
        if r.score.at_risk
    ]
    rows.sort(key=lambda r: (-r.score.risk_score, r.score.engagement, r.companyid, r.userid, r.courseid))
    return [_engagement_tuple(r) for r in rows]


# --- course summary -------------------------------------------------------------------------------


def _course_summary(ctx: RunContext, params: Mapping[str, Any]) -> list[tuple]:
    courses: dict[int, list[EngagementRow]] = {}
    for row in engagement_rows(ctx.companyid, now=ctx.now, zone=ctx.zone, rules=ctx.rules):
        courses.setdefault(row.courseid, []).append(row)
    result = []
    for courseid in sorted(courses):
        rows = courses[courseid]
        n = len(rows)
        completed = sum(r.status == "completed" for r in rows)
        started = sum(r.status == "in_progress" for r in rows)
        result.append(
            (
                courseid,
                rows[0].coursename,
                n,
                completed,
                started,
                n - completed - started,
                round2(100 * completed / n),
                round2(sum(r.percentage for r in rows) / n),
                round2(sum(r.score.engagement for r in rows) / n),
                sum(r.score.at_risk for r in rows),
            )
        )
    return result


# --- trends ---------------------------------------------------------------------------------------


def months(now: int, zone: str, count: int = 12) -> tuple[list[str], list[int]]:
    """The ``count`` local months ending with the current one: their ``YYYY-MM`` labels and their
    first seconds, plus the first second of the next month (``count + 1`` edges)."""
    today = local_today(now, zone)
    tz = ZoneInfo(zone)
    current = today.year * 12 + today.month - 1  # months since year 0

    def first_second(index: int) -> int:
        year, month = divmod(index, 12)
        return int(datetime(year, month + 1, 1, tzinfo=tz).timestamp())

    indexes = range(current - count + 1, current + 1)
    labels = [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in indexes]
    return labels, [first_second(i) for i in indexes] + [first_second(current + 1)]


def _trends(ctx: RunContext, params: Mapping[str, Any]) -> list[tuple]:
    labels, edges = months(ctx.now, ctx.zone)
    started = [0] * len(labels)
    completed = [0] * len(labels)
    r = Reporting
    query = r.select(r.timestarted, r.timecompleted).where(
        (r.is_deleted == 0)
        & (
            ((r.timestarted >= edges[0]) & (r.timestarted < edges[-1]))
            | ((r.timecompleted >= edges[0]) & (r.timecompleted < edges[-1]))
        )
    )
    if ctx.companyid is not None:
        query = query.where(r.companyid == ctx.companyid)
    for begun, done in query.tuples().iterator():
        for value, counts in ((int(begun), started), (int(done), completed)):
            if edges[0] <= value < edges[-1]:
                counts[bisect.bisect_right(edges, value) - 1] += 1
    return list(zip(labels, started, completed, strict=True))


# --- time spent -----------------------------------------------------------------------------------


def members(companyid: int | None):
    """The company's members as SPEC §3.2 counts them (a subquery of user ids)."""
    cu = CompanyUser
    query = (
        cu.select(cu.userid)
        .join(User, on=User.id == cu.userid)
        .where((cu.suspended == 0) & (User.deleted == 0) & (User.suspended == 0))
    )
    return query if companyid is None else query.where(cu.companyid == companyid)


def _time_spent(ctx: RunContext, params: Mapping[str, Any]) -> list[tuple]:
    first, last = params["from"], params["to"]
    if first > last:
        raise ReportError(f"from ({first}) is after to ({last})")
    d = UserTimeDaily
    query = (
        d.select(d.userid, d.courseid, d.date, d.duration, d.sessions, d.events, d.interactions)
        .where(d.date.between(first, last) & d.userid.in_(members(ctx.companyid)))
        .order_by(d.userid, d.courseid, d.date)
    )
    return [(int(u), int(c), day, int(s), int(n), int(e), int(i)) for u, c, day, s, n, e, i in query.tuples()]


def _window_start(ctx: RunContext) -> str:
    return window(ctx.now, ctx.zone, ctx.config.analytics_window_days)[0]


def _window_end(ctx: RunContext) -> str:
    return window(ctx.now, ctx.zone, ctx.config.analytics_window_days)[1]


# --- inactive learners ----------------------------------------------------------------------------


def _inactive(ctx: RunContext, params: Mapping[str, Any]) -> list[tuple]:
    r, la = Reporting, UserLastaccess
    last = fn.MAX(fn.COALESCE(la.timeaccess, 0))
    query = (
        r.select(
            r.userid,
            fn.MAX(r.firstname),
            fn.MAX(r.lastname),
            fn.MAX(r.email),
            fn.COUNT(r.courseid.distinct()),
            last,
        )
        .join(la, JOIN.LEFT_OUTER, on=(la.userid == r.userid) & (la.courseid == r.courseid))
        .where(r.is_deleted == 0)
        .group_by(r.userid)
        .having(last < ctx.now - params["days"] * DAY)
        .order_by(r.userid)
    )
    if ctx.companyid is not None:
        query = query.where(r.companyid == ctx.companyid)
    return [(int(u), f, n, e, int(c), int(t)) for u, f, n, e, c, t in query.tuples()]


# --- the registry ---------------------------------------------------------------------------------

REPORTS: tuple[Report, ...] = (
    Report(
        "engagement",
        "Engagement",
        "Every live learner-course row with time spent, activity, completion, engagement and risk "
        "over the last analytics_window_days.",
        ENGAGEMENT_COLUMNS,
        key=("companyid", "userid", "courseid"),
        produce=_engagement,
    ),
    Report(
        "at-risk",
        "At-risk learners",
        "The engagement rows at risk, highest risk first, then lowest engagement.",
        ENGAGEMENT_COLUMNS,
        key=("risk_score", "engagement", "companyid", "userid", "courseid"),
        produce=_at_risk,
    ),
    Report(
        "course-summary",
        "Course summary",
        "Per course: learners, completion, average progress and engagement, learners at risk.",
        (
            Column("courseid", INT, "Course"),
            Column("coursename", TEXT, "Course name"),
            Column("learners", INT, "Learners"),
            Column("completed", INT, "Completed"),
            Column("in_progress", INT, "In progress"),
            Column("not_started", INT, "Not started"),
            Column("completion_rate", FLOAT, "Completion rate %"),
            Column("avg_percentage", FLOAT, "Avg progress %"),
            Column("avg_engagement", FLOAT, "Avg engagement"),
            Column("at_risk", INT, "At risk"),
        ),
        key=("courseid",),
        produce=_course_summary,
    ),
    Report(
        "trends",
        "Trends",
        "Courses started and completed per local month, the 12 months ending with this one.",
        (
            Column("month", TEXT, "Month"),
            Column("started", INT, "Started"),
            Column("completed", INT, "Completed"),
        ),
        key=("month",),
        produce=_trends,
        chart="trends",
    ),
    Report(
        "time-spent",
        "Time spent",
        "Daily time spent of the company's learners from Moodle's log, for a date range.",
        (
            Column("userid", INT, "User"),
            Column("courseid", INT, "Course"),
            Column("date", DATE, "Date"),
            Column("duration", INT, "Duration (s)"),
            Column("sessions", INT, "Sessions"),
            Column("events", INT, "Events"),
            Column("interactions", INT, "Interactions"),
        ),
        key=("userid", "courseid", "date"),
        produce=_time_spent,
        params=(
            Param("from", DATE, "first local date (default: the window's first)", _window_start),
            Param("to", DATE, "last local date (default: today)", _window_end),
        ),
    ),
    Report(
        "inactive-learners",
        "Inactive learners",
        "Learners whose last access to any of their courses is older than `days` days (0: never).",
        (
            Column("userid", INT, "User"),
            Column("firstname", TEXT, "First name"),
            Column("lastname", TEXT, "Last name"),
            Column("email", TEXT, "E-mail"),
            Column("courses", INT, "Courses"),
            Column("last_access", TIME, "Last access"),
        ),
        key=("userid",),
        produce=_inactive,
        params=(Param("days", INT, "days without access (default 30)", lambda ctx: 30, min=1, max=3650),),
    ),
)

REPORTS_BY_NAME = {r.name: r for r in REPORTS}


def get_report(name: str) -> Report:
    try:
        return REPORTS_BY_NAME[name]
    except KeyError:
        raise ReportError(f"no report named {name!r}: choose {', '.join(REPORTS_BY_NAME)}") from None


def sort_key_value(report: Report, values: list) -> list:
    """The cursor's comparison key for a row's key values: at-risk orders risk descending."""
    if report.name == "at-risk":
        return [-values[0], *values[1:]]
    return values


def after(report: Report, rows: list[tuple], cursor_key: list | None) -> list[tuple]:
    """The rows after the one whose key values are ``cursor_key`` (all when None)."""
    if cursor_key is None:
        return rows
    mark = sort_key_value(report, cursor_key)
    return [row for row in rows if sort_key_value(report, report.key_of(row)) > mark]
