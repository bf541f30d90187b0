"""Time spent from Moodle's standard log (SPEC §8.2): sessions per user and course, daily rows.

All of it is set-based SQL run by the database: counted events are sessionised with one ``LAG``
pass (a gap over ``session_timeout`` starts a session; a running ``SUM`` numbers them), sessions
and events are placed on the local date of ``timezone`` by a ``CASE`` over the zone's UTC offsets
(the few DST transitions in the range, found in Python), and grouped into the daily rows.

Incremental runs read the log from an id watermark: the (user, course) pairs with new events are
recomputed from their events still in the log, replacing their daily rows from the date of the
first of those events on, so a session spanning runs or midnight comes out as in a full
computation, and daily rows whose events the log's retention deleted are kept. The replacement and
the new watermark commit in one transaction: a killed run loses nothing and counts nothing twice.
Events of the last ``IN_FLIGHT_SECONDS`` are left for the next run (Moodle transactions that commit
late may still add lower ids).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import peewee

from models.analytics import UserTimeDaily
from models.db import dialect, quote
from models.moodle import Course, LogstoreStandardLog
from models.plugin import State

WATERMARK = "analytics_watermark"
IN_FLIGHT_SECONDS = 120
DAY = 86_400


@dataclass
class RefreshResult:
    mode: str  # "full" | "incremental"
    events: int  # log events read (new since the watermark, or all)
    pairs: int  # (user, course) pairs recomputed
    rows: int  # daily rows written
    watermark: int
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def offsets(zone: str, start: int, end: int) -> list[tuple[int, int]]:
    """``[(from_epoch, utc_offset_seconds), …]`` covering ``start``..``end`` in ``zone``: the first
    entry from ``start``, one more at each DST or zone change (found to the second)."""
    tz = ZoneInfo(zone)

    def off(t: int) -> int:
        delta = datetime.fromtimestamp(t, UTC).astimezone(tz).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    result = [(start, off(start))]
    t = start
    while t < end:
        step = min(t + DAY, end)
        if off(step) != result[-1][1]:
            low, high = t, step  # the change lies in (low, high]
            while high - low > 1:
                mid = (low + high) // 2
                if off(mid) == result[-1][1]:
                    low = mid
                else:
                    high = mid
            result.append((high, off(high)))
        t = step
    return result


class _Sql:
    """The dialect-dependent pieces of the statements."""

    def __init__(self, db: peewee.Database):
        self.db = db
        self.kind = dialect(db)
        self.p = db.param

    def q(self, name: str) -> str:
        return quote(name, self.db)

    def day_number(self, column: str, zone_offsets: list[tuple[int, int]]) -> str:
        """The local day (days since 1970-01-01 in the zone) of epoch seconds ``column``."""
        if len(zone_offsets) == 1:
            shifted = f"{column} + {zone_offsets[0][1]}"
        else:
            branches = " ".join(
                f"WHEN {column} < {nxt} THEN {column} + {off}"
                for (_, off), (nxt, _) in zip(zone_offsets, zone_offsets[1:], strict=False)
            )
            shifted = f"CASE {branches} ELSE {column} + {zone_offsets[-1][1]} END"
        divide = "DIV" if self.kind == "mysql" else "/"  # integer division (times are positive)
        return f"(({shifted}) {divide} {DAY})"

    def date_text(self, day_number: str) -> str:
        """'YYYY-MM-DD' of a day number."""
        if self.kind == "sqlite":
            return f"date({day_number} * {DAY}, 'unixepoch')"
        if self.kind == "mysql":
            return f"CAST(DATE_ADD('1970-01-01', INTERVAL {day_number} DAY) AS CHAR(10))"
        return f"CAST(DATE '1970-01-01' + CAST({day_number} AS INTEGER) AS VARCHAR(10))"


def _counted_events(sql: _Sql, where: str) -> str:
    """The events SPEC §8.2 counts: a user, a real course (not the site course), not anonymous, not
    "logged in as"."""
    log, course = sql.q(LogstoreStandardLog._meta.table_name), sql.q(Course._meta.table_name)
    return (
        f"SELECT l.id, l.userid, l.courseid, l.timecreated, l.edulevel FROM {log} l "
        f"JOIN {course} c ON c.id = l.courseid AND c.category <> 0 "
        f"WHERE l.userid > 0 AND l.anonymous = 0 AND l.realuserid IS NULL AND {where}"
    )


def _daily_select(
    sql: _Sql, counted: str, zone_offsets: list[tuple[int, int]], timeout: int, now: int
) -> str:
    order = "PARTITION BY userid, courseid ORDER BY timecreated, id"
    starts = (
        f"SELECT id, userid, courseid, timecreated, "
        f"CASE WHEN timecreated - LAG(timecreated) OVER ({order}) <= {int(timeout)} THEN 0 ELSE 1 END AS starts "
        f"FROM ({counted}) e"
    )
    numbered = (
        f"SELECT userid, courseid, timecreated, SUM(starts) OVER ({order} ROWS UNBOUNDED PRECEDING) AS session_no "
        f"FROM ({starts}) s"
    )
    sessions = (
        "SELECT userid, courseid, MIN(timecreated) AS started, MAX(timecreated) - MIN(timecreated) AS duration "
        f"FROM ({numbered}) n GROUP BY userid, courseid, session_no"
    )
    parts = (
        f"SELECT userid, courseid, {sql.day_number('started', zone_offsets)} AS day, duration, 1 AS sessions, "
        f"0 AS events, 0 AS interactions FROM ({sessions}) ss "
        "UNION ALL "
        f"SELECT userid, courseid, {sql.day_number('timecreated', zone_offsets)} AS day, 0, 0, 1, "
        f"CASE WHEN edulevel = 2 THEN 1 ELSE 0 END FROM ({counted}) ev"
    )
    return (
        f"SELECT userid, courseid, {sql.date_text('day')}, SUM(duration), SUM(sessions), SUM(events), "
        f"SUM(interactions), {int(now)} FROM ({parts}) x GROUP BY userid, courseid, day"
    )


def refresh(
    db: peewee.Database,
    config,
    now: int,
    *,
    full: bool = False,
    progress: Callable[[str], None] | None = None,
) -> RefreshResult:
    """Bring the daily table up to date with the log (SPEC §8.2); ``full`` recomputes every pair."""
    started = time.monotonic()
    say = progress or (lambda _text: None)
    sql = _Sql(db)
    log = LogstoreStandardLog
    row = State.get_or_none(State.name == WATERMARK)
    watermark = 0 if full or row is None else int(row.value_int)
    high = (
        log.select(peewee.fn.MAX(log.id))
        .where((log.id > watermark) & (log.timecreated <= now - IN_FLIGHT_SECONDS))
        .scalar()
    )
    mode = "full" if watermark == 0 else "incremental"
    if high is None:  # nothing new
        return RefreshResult(mode, 0, 0, 0, watermark, round(time.monotonic() - started, 3))
    p = sql.p
    log_table = sql.q(log._meta.table_name)
    new = f"l.id > {p} AND l.id <= {p}"
    say(f"reading log events {watermark + 1}..{high}")
    pairs_sql = (
        f"SELECT userid, courseid, MIN(timecreated), COUNT(*) FROM ({_counted_events(sql, new)}) x "
        "GROUP BY userid, courseid"
    )
    affected = db.execute_sql(pairs_sql, [watermark, high]).fetchall()
    events = sum(int(n) for *_rest, n in affected)
    if not affected:
        State.put(WATERMARK, value_int=int(high), now=now)
        return RefreshResult(mode, 0, 0, 0, int(high), round(time.monotonic() - started, 3))
    # Each affected pair is recomputed from all its events still in the log, up to ``high``.
    # The pairs of the counted new events (the same rows as ``affected``, whose daily rows are deleted).
    scope = (
        f"(l.userid, l.courseid) IN (SELECT userid, courseid FROM {log_table} WHERE id > {p} AND id <= {p} "
        "AND userid > 0 AND anonymous = 0 AND realuserid IS NULL)"
    )
    everything = f"l.id <= {p}" if mode == "full" else f"{scope} AND l.id <= {p}"
    params = [high] if mode == "full" else [watermark, high, high]
    bounds = db.execute_sql(
        f"SELECT MIN(timecreated), MAX(timecreated) FROM ({_counted_events(sql, everything)}) b", params
    ).fetchone()
    zone_offsets = offsets(config.timezone, int(bounds[0]), int(bounds[1]) + DAY)
    daily = sql.q(UserTimeDaily._meta.table_name)
    columns = "userid, courseid, date, duration, sessions, events, interactions, lastupdated"
    select = _daily_select(sql, _counted_events(sql, everything), zone_offsets, config.session_timeout, now)
    say(f"recomputing {len(affected):,} user-course pairs")
    # The log's retention deletes its oldest events first: rows before the local date of the oldest
    # event still in the log cannot be recomputed and stay; from that date on, a pair's rows are
    # replaced by the recomputation from all its events.
    kept_before = _local_date(int(log.select(peewee.fn.MIN(log.timecreated)).scalar()), config.timezone)
    with db.atomic():
        if mode == "full":
            UserTimeDaily.delete().where(UserTimeDaily.date >= kept_before).execute()
        else:
            pairs = [(int(u), int(c)) for u, c, _t, _n in affected]
            for i in range(0, len(pairs), 200):
                chunk = pairs[i : i + 200]
                # A flat OR: peewee would nest 200 parentheses, past SQLite's parser stack.
                either = " OR ".join([f"(userid = {p} AND courseid = {p})"] * len(chunk))
                db.execute_sql(
                    f"DELETE FROM {daily} WHERE date >= {p} AND ({either})",
                    [kept_before, *(value for pair in chunk for value in pair)],
                )
        cursor = db.execute_sql(f"INSERT INTO {daily} ({columns}) {select}", params * 2)
        written = max(cursor.rowcount or 0, 0)
        State.put(WATERMARK, value_int=int(high), now=now)
    return RefreshResult(
        mode, events, len(affected), written, int(high), round(time.monotonic() - started, 3)
    )


def _local_date(epoch: int, zone: str) -> str:
    return datetime.fromtimestamp(epoch, ZoneInfo(zone)).strftime("%Y-%m-%d")
