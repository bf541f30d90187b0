"""Time spent from Moodle's standard log (SPEC §8.2): sessions per user and course, daily rows.

All of it is set-based SQL run by the database: counted events are sessionised in one window pass
per course (the previous event: a gap over ``session_timeout`` starts a session; a running ``SUM``
counts),
sessions and events are placed on the local date of ``timezone`` by a ``CASE`` over the zone's UTC
offsets (the few DST transitions in the range, found in Python), and grouped into the daily rows.

Incremental runs read the log from an id watermark. A (user, course) pair whose new events all come
after its last counted one gets them added to its rows, its latest row's last event and open
session standing in for the events before (a session spanning runs or midnight comes out as in a
full computation); any other pair is recomputed from its events still in the log, replacing its
daily rows from the date of the first of those events on (rows whose events the log's retention
deleted are kept). Both and the new watermark commit in one transaction: a killed run loses
nothing and counts nothing twice.
Events of the last ``IN_FLIGHT_SECONDS`` are left for the next run (Moodle transactions that commit
late may still add lower ids).
"""

from __future__ import annotations

import contextlib
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
PACK = 1 << 32  # see _daily_select
TIME_BITS = 1 << 33  # epoch seconds below this (the year 2242); see _daily_select
MAX_USERS = 1 << 30  # user ids below this: TIME_BITS * MAX_USERS fits a signed 64-bit integer


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
        return f"({self.int_div(f'({shifted})', str(DAY))})"

    def int_mod(self, a: str, b: str) -> str:
        """``a`` modulo ``b`` (``%`` would be a parameter marker to the MariaDB drivers and psycopg2)."""
        return f"{a} % {b}" if self.kind == "sqlite" else f"MOD({a}, {b})"

    def int_div(self, a: str, b: str) -> str:
        """Integer division of non-negative numbers (MySQL's / gives a decimal)."""
        return f"{a} DIV {b}" if self.kind == "mysql" else f"{a} / {b}"

    def date_text(self, day_number: str) -> str:
        """'YYYY-MM-DD' of a day number."""
        if self.kind == "sqlite":
            return f"date({day_number} * {DAY}, 'unixepoch')"
        if self.kind == "mysql":
            return f"CAST(DATE_ADD('1970-01-01', INTERVAL {day_number} DAY) AS CHAR(10))"
        return f"CAST(DATE '1970-01-01' + CAST({day_number} AS INTEGER) AS VARCHAR(10))"


def _counted_events(sql: _Sql, where: str, pairs: str | None = None) -> str:
    """The events SPEC §8.2 counts: a user, a real course (not the site course), not anonymous, not
    "logged in as". ``pairs``: a derived table of (userid, courseid) to read the events of (joined
    first, so the database looks each pair up by its user index instead of scanning the log)."""
    log, course = sql.q(LogstoreStandardLog._meta.table_name), sql.q(Course._meta.table_name)
    if pairs:
        # Each pair's events by Moodle's user index (the learner's events), never by its course index
        # (every event of the course, once per pair): the unary plus keeps the planner off l.courseid.
        source = f"({pairs}) p JOIN {course} c ON c.id = p.courseid JOIN {log} l ON l.userid = p.userid AND +l.courseid = p.courseid"
    else:
        source = f"{log} l JOIN {course} c ON c.id = l.courseid"
    return (
        f"SELECT l.id, l.userid, l.courseid, l.timecreated, l.edulevel FROM {source} AND c.category <> 0 "
        f"WHERE l.userid > 0 AND l.anonymous = 0 AND l.realuserid IS NULL AND {where}"
    )


def _daily_select(
    sql: _Sql, counted: str, zone_offsets: list[tuple[int, int]], timeout: int, now: int, sentinel: int
) -> str:
    """Daily rows from the counted events in two window passes, the second over few rows.

    Pass 1 (every event, one sort): each course's events in the order of user, time and id, with
    the previous event (its user and time packed into one ``LAG``) and a running count of events and
    interactions. A row is a boundary when it starts a pair (another user before it), a session (over
    ``timeout`` after the previous event) or a local day (the previous event on another day); only
    those go on. One sentinel row per course, of user ``sentinel`` (above every user), ends the
    course's last pair. Between two boundaries lies a segment: events of one pair on one day in one
    session; the later boundary's previous event is the segment's last, the difference of running
    counts its events and interactions.

    Pass 2 (boundary rows only) gives each segment the next boundary and the start of its session
    (the latest session start before it: a pair's first row is one, and user and time packed as in
    pass 1 grow along the course's order). A day's rows add up its segments; each segment adds its
    span (to the next boundary, or to its last event when a session ends there) to the date its
    session started: a segment whose session started on an earlier date is read twice, once per
    date, by a join with a two-row table.

    Only ``LAG``, partitioned by course: the same rows computed with ``LEAD`` per pair took 55 s at
    10M events (SQLite; a ``LEAD`` next to an aggregate costs it a pass), this way 36–42 s, against
    29 s for the benchmark's bare ``LAG``.
    """
    timeout = int(timeout)
    course = sql.q(Course._meta.table_name)
    events = (
        f"SELECT id, userid, courseid, timecreated, CASE WHEN edulevel = 2 THEN 1 ELSE 0 END AS own "
        f"FROM ({counted}) ev UNION ALL SELECT 0, {int(sentinel)}, id, 0, 0 FROM {course} WHERE category <> 0"
    )
    # One running SUM carries two counts: the row number (low 32 bits) and the interactions so far
    # (high bits); one LAG carries the previous event's user (high bits) and time (low TIME_BITS
    # bits). Each window function costs SQLite a pass.
    windowed = (
        f"SELECT userid, courseid, timecreated, own, LAG(userid * {TIME_BITS} + timecreated) OVER w AS prev, "
        f"SUM(1 + own * {PACK}) OVER w AS packed FROM ({events}) e "
        "WINDOW w AS (PARTITION BY courseid ORDER BY userid, timecreated, id ROWS UNBOUNDED PRECEDING)"
    )
    # Dates after the sort: the sorted rows stay narrow.
    unpacked = (
        f"SELECT x.*, {sql.int_div('prev', str(TIME_BITS))} AS prev_user, "
        f"{sql.int_mod('prev', str(TIME_BITS))} AS prev_t, "
        f"{sql.day_number('timecreated', zone_offsets)} AS day FROM ({windowed}) x"
    )
    new_pair = "prev IS NULL OR prev_user <> userid"
    new_session = f"{new_pair} OR timecreated - prev_t > {timeout}"
    bounds = (
        "SELECT userid, courseid, timecreated, day, prev_t, "
        f"CASE WHEN {new_session} THEN 1 ELSE 0 END AS is_start, "
        f"{sql.int_mod('packed', str(PACK))} AS rn, packed - 1 - own * {PACK} AS counted_before "
        f"FROM ({unpacked}) y WHERE {new_session} OR {sql.day_number('prev_t', zone_offsets)} <> day"
    )
    after = "OVER (PARTITION BY courseid ORDER BY rn)"
    # The running MAX in a window layer of its own: beside the LEADs, MariaDB 10.11 took 31 s
    # instead of 13 s for this select at 1M events.
    linked = (
        f"SELECT b.*, LEAD(prev_t) {after} AS seg_last, LEAD(counted_before) {after} AS counted_next, "
        f"LEAD(is_start) {after} AS next_start, LEAD(timecreated) {after} AS next_t "
        f"FROM (SELECT c.*, MAX(CASE WHEN is_start = 1 THEN userid * {TIME_BITS} + timecreated END) "
        f"{after} AS packed_start FROM ({bounds}) c) b"
    )
    segments = (
        "SELECT userid, courseid, day, is_start, seg_last, "
        f"{sql.int_mod('packed_start', str(TIME_BITS))} AS session_start, "
        "CASE WHEN next_start = 1 THEN seg_last ELSE next_t END - timecreated AS span, "
        f"{sql.int_mod('(counted_next - counted_before)', str(PACK))} AS n, "
        f"{sql.int_div('(counted_next - counted_before)', str(PACK))} AS own_n "
        f"FROM ({linked}) l WHERE userid <> {int(sentinel)}"
    )
    # k = 0: the segment on its own date; k = 1: its span on its session's date, when earlier.
    keyed = (
        "SELECT g.*, k, CASE WHEN k = 0 THEN day ELSE start_day END AS key_day FROM "
        f"(SELECT s.*, {sql.day_number('session_start', zone_offsets)} AS start_day FROM ({segments}) s) g "
        "JOIN (SELECT 0 AS k UNION ALL SELECT 1) two ON k = 0 OR start_day <> day"
    )
    on_own_date = "CASE WHEN k = 0 THEN {} ELSE 0 END"
    return (
        f"SELECT userid, courseid, {sql.date_text('key_day')}, "
        "SUM(CASE WHEN key_day = start_day THEN span ELSE 0 END), "
        f"SUM({on_own_date.format('is_start')}), SUM({on_own_date.format('n')}), "
        f"SUM({on_own_date.format('own_n')}), MAX({on_own_date.format('seg_last')}), "
        f"MAX({on_own_date.format('session_start')}), {int(now)} "
        f"FROM ({keyed}) q GROUP BY userid, courseid, key_day"
    )


def _sentinel_user(sql: _Sql, last: int) -> int:
    """A user id above every user's in the log, for _daily_select's sentinel rows (one step down
    Moodle's index that starts with userid). Ids and times must fit the packed LAG."""
    log = LogstoreStandardLog
    highest = int(log.select(peewee.fn.MAX(log.userid)).scalar() or 0)
    if highest + 1 >= MAX_USERS or last >= TIME_BITS:
        raise ValueError(
            f"time spent supports user ids below {MAX_USERS:,} and times before {TIME_BITS:,} "
            f"(the log has user {highest:,}, time {last:,})"
        )
    return highest + 1


def _appended_select(
    sql: _Sql, new_events: str, daily: str, zone_offsets: list[tuple[int, int]], timeout: int, now: int
) -> str:
    """What new events add to the daily rows of pairs they only append to (every new event at or
    after the pair's last counted one, or a pair without rows): the pair's tail, its latest daily
    row's last event and open session start, stands in for its earlier events.

    The first new event continues the open session when it is within ``timeout`` of the tail's last
    event; that session then grows by its new end minus that last event, on the date of its start.
    Every new start adds a session and its duration on its own date, every event one event (and
    one interaction when the learner's own) on its date. Each touched date also gets its last event
    and that event's session start, the tail of the next run.

    The tail is looked up per event in the daily table's unique index: joined as a derived table,
    SQLite compared every new event with every pair (10M-event log: 96 s instead of a few)."""
    timeout = int(timeout)
    day = sql.day_number("timecreated", zone_offsets)
    tail_day = sql.day_number("tail_s", zone_offsets)
    windowed = (
        "SELECT e.userid, e.courseid, e.id, e.timecreated, "
        "CASE WHEN e.edulevel = 2 THEN 1 ELSE 0 END AS own, "
        "d.last_time AS tail_t, d.open_start AS tail_s, MIN(e.timecreated) OVER p AS first_new, "
        "COALESCE(LAG(e.timecreated) OVER w, d.last_time) AS prev_t, LEAD(e.timecreated) OVER w AS next_t "
        f"FROM ({new_events}) e LEFT JOIN {daily} d ON d.userid = e.userid AND d.courseid = e.courseid "
        f"AND d.date = (SELECT MAX(x.date) FROM {daily} x WHERE x.userid = e.userid AND x.courseid = e.courseid) "
        "WINDOW p AS (PARTITION BY e.userid, e.courseid), "
        "w AS (PARTITION BY e.userid, e.courseid ORDER BY e.timecreated, e.id)"
    )
    marks = (
        f"SELECT x.*, {day} AS day, "
        f"CASE WHEN prev_t IS NOT NULL AND timecreated - prev_t <= {timeout} THEN 0 ELSE 1 END AS is_start, "
        f"CASE WHEN next_t - timecreated <= {timeout} THEN 0 ELSE 1 END AS is_end "
        f"FROM ({windowed}) x WHERE {APPENDS.format(first='first_new', last='tail_t')}"
    )
    sessions = (
        "SELECT m.*, MAX(CASE WHEN is_start = 1 THEN timecreated END) OVER q AS session_start, "
        "MIN(CASE WHEN is_end = 1 THEN timecreated END) OVER (PARTITION BY userid, courseid "
        "ORDER BY timecreated, id ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS session_end "
        f"FROM ({marks}) m WINDOW q AS (PARTITION BY userid, courseid ORDER BY timecreated, id "
        "ROWS UNBOUNDED PRECEDING)"
    )
    # Per event: its date's counts; per session start: the session; the end of the continued
    # session (no new start before it): its growth, on the date the session started.
    parts = (
        "SELECT userid, courseid, day, "
        "CASE WHEN is_start = 1 THEN session_end - timecreated ELSE 0 END AS duration, "
        "is_start AS sessions, 1 AS events, own AS interactions, timecreated AS last_time, "
        "COALESCE(session_start, tail_s) AS open_start "
        f"FROM ({sessions}) s "
        "UNION ALL "
        f"SELECT userid, courseid, {tail_day}, timecreated - tail_t, 0, 0, 0, 0, 0 FROM ({sessions}) c "
        "WHERE session_start IS NULL AND is_end = 1"
    )
    return (
        f"SELECT userid, courseid, {sql.date_text('day')}, SUM(duration), SUM(sessions), SUM(events), "
        f"SUM(interactions), MAX(last_time), MAX(open_start), {int(now)} FROM ({parts}) d "
        "GROUP BY userid, courseid, day"
    )


# Can the pair's new events (the first at ``first``) be added to its rows (tail ``last``; NULL: no
# rows)? 0 is the tail of rows written before schema step 9: unknown.
APPENDS = "({last} IS NULL OR ({last} > 0 AND {first} >= {last}))"


@contextlib.contextmanager
def _sorts_on_disk(db: peewee.Database, kind: str):
    """SQLite: the window passes sort every event. With this product's API settings (temp_store
    MEMORY, a 64 MB page cache) 10M events took 1.5 GB; spilling the sorts to temporary files with a
    16 MB cache took 81 MB and was faster (10M events: 39.0 s against 43.1 s)."""
    if kind != "sqlite":
        yield
        return
    temp_store = db.execute_sql("PRAGMA temp_store").fetchone()[0]
    cache_size = db.execute_sql("PRAGMA cache_size").fetchone()[0]
    db.execute_sql("PRAGMA temp_store = FILE")
    db.execute_sql("PRAGMA cache_size = -16000")
    try:
        yield
    finally:
        db.execute_sql(f"PRAGMA temp_store = {int(temp_store)}")
        db.execute_sql(f"PRAGMA cache_size = {int(cache_size)}")


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
    with _sorts_on_disk(db, dialect(db)):
        return _refresh(db, config, now, full, progress or (lambda _text: None), started)


def _refresh(
    db: peewee.Database, config, now: int, full: bool, say: Callable[[str], None], started: float
) -> RefreshResult:
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
    say(f"reading log events {watermark + 1}..{high}")
    # The zone's offsets over the whole log; wider than needed is harmless.
    # Two queries: each is one step down the time index (asked together, SQLite scans the log).
    first = int(log.select(peewee.fn.MIN(log.timecreated)).scalar())
    last = int(log.select(peewee.fn.MAX(log.timecreated)).scalar())
    # The log's retention deletes its oldest events first: rows before the local date of the oldest
    # event still in the log cannot be recomputed and stay; from that date on, a recomputed pair's
    # rows are replaced.
    kept_before = _local_date(first, config.timezone)
    if mode == "full":
        return _full(sql, config, now, high, first, last, kept_before, started)
    return _incremental(sql, config, now, watermark, high, first, last, kept_before, say, started)


COLUMNS = (
    "userid, courseid, date, duration, sessions, events, interactions, last_time, open_start, lastupdated"
)


def _full(
    sql: _Sql, config, now: int, high: int, first: int, last: int, kept_before: str, started: float
) -> RefreshResult:
    db, p = sql.db, sql.p
    zone_offsets = offsets(config.timezone, first, last + DAY)
    counted = _counted_events(sql, f"l.id <= {p}")
    select = _daily_select(sql, counted, zone_offsets, config.session_timeout, now, _sentinel_user(sql, last))
    daily = sql.q(UserTimeDaily._meta.table_name)
    with db.atomic():
        UserTimeDaily.delete().where(UserTimeDaily.date >= kept_before).execute()
        written = max(db.execute_sql(f"INSERT INTO {daily} ({COLUMNS}) {select}", [high]).rowcount or 0, 0)
        State.put(WATERMARK, value_int=int(high), now=now)
    _fresh_statistics(sql, daily)
    # What was recomputed, read back from the daily table (its unique index) rather than by
    # grouping the whole log once more.
    d = UserTimeDaily
    events = int(
        d.select(peewee.fn.COALESCE(peewee.fn.SUM(d.events), 0)).where(d.date >= kept_before).scalar()
    )
    pairs = d.select(d.userid, d.courseid).where(d.date >= kept_before).group_by(d.userid, d.courseid).count()
    return RefreshResult("full", events, pairs, written, int(high), round(time.monotonic() - started, 3))


def _fresh_statistics(sql: _Sql, daily: str) -> None:
    """After a full run, statistics of the daily table as it now is. Planned against the statistics
    of the emptied table, the next incremental run on MariaDB once took 16 s instead of 0.4 s
    (1M-event bench); the servers' own refresh comes later (PostgreSQL's autovacuum after about a
    minute, InnoDB's in the background)."""
    if sql.kind == "postgresql":
        sql.db.execute_sql(f"ANALYZE {daily}")
    elif sql.kind == "mysql":
        sql.db.execute_sql(f"ANALYZE TABLE {daily}").fetchall()


def _incremental(
    sql: _Sql,
    config,
    now: int,
    watermark: int,
    high: int,
    first: int,
    last: int,
    kept_before: str,
    say: Callable[[str], None],
    started: float,
) -> RefreshResult:
    """The pairs with new events. Those the new events only append to (the usual case: Moodle logs
    in time order) take what the new events add to their daily rows, computed from the new events
    and the pair's tail alone: the cost of what changed. A pair with a new event older than its
    last counted one (a transaction that committed late) or without a tail (rows from before
    schema step 9) is recomputed from all its events still in the log."""
    db, p = sql.db, sql.p
    daily = sql.q(UserTimeDaily._meta.table_name)
    new_events = _counted_events(sql, f"l.id > {p} AND l.id <= {p}")
    firsts = (
        f"SELECT userid, courseid, MIN(timecreated) AS first_new, COUNT(*) AS n FROM ({new_events}) x "
        "GROUP BY userid, courseid"
    )
    # Each pair with new events, its first new event and its tail: its latest daily row, if any.
    window = [watermark, high]
    appends = APPENDS.format(first="f.first_new", last="d.last_time")
    affected = db.execute_sql(
        f"SELECT f.userid, f.courseid, CASE WHEN {appends} THEN 1 ELSE 0 END, f.n, d.open_start "
        f"FROM ({firsts}) f "
        f"LEFT JOIN {daily} d ON d.userid = f.userid AND d.courseid = f.courseid AND d.date = "
        f"(SELECT MAX(x.date) FROM {daily} x WHERE x.userid = f.userid AND x.courseid = f.courseid)",
        window,
    ).fetchall()
    if not affected:
        State.put(WATERMARK, value_int=int(high), now=now)
        return RefreshResult("incremental", 0, 0, 0, int(high), round(time.monotonic() - started, 3))

    late = [(int(u), int(c)) for u, c, appended, _n, _s in affected if not appended]
    # Open sessions may have started before the oldest event still in the log.
    oldest = min([first, *(int(s) for *_rest, s in affected if s)])
    zone_offsets = offsets(config.timezone, oldest, last + DAY)
    appended = _appended_select(sql, new_events, daily, zone_offsets, config.session_timeout, now)
    say(f"adding the new events of {len(affected) - len(late):,} user-course pairs")
    written = 0
    with db.atomic():
        # Claim the log range first: the watermark moves only from where this run read it. A run
        # started at the same time (the worker's job and `alx analytics refresh`) waits here for
        # this one's commit, then finds the watermark moved and adds nothing: deltas added twice
        # would count the same events twice.
        if not _claim(watermark, high, now):
            return RefreshResult("incremental", 0, 0, 0, watermark, round(time.monotonic() - started, 3))
        # Then the deltas, while every tail is as the split above saw it.
        if len(late) < len(affected):
            cursor = db.execute_sql(_upsert(sql, daily, appended), window * 2)
            written += max(cursor.rowcount or 0, 0)
        if late:
            say(f"recomputing {len(late):,} user-course pairs with late events")
            sentinel = _sentinel_user(sql, last)
            written += _recompute(sql, daily, late, high, zone_offsets, kept_before, config, now, sentinel)
    events = sum(int(n) for _u, _c, _a, n, _s in affected)
    return RefreshResult(
        "incremental", events, len(affected), written, int(high), round(time.monotonic() - started, 3)
    )


def _claim(watermark: int, high: int, now: int) -> bool:
    """Move the watermark from ``watermark`` to ``high`` unless another run moved it meanwhile
    (the UPDATE holds the row until commit: concurrent runs take turns)."""
    moved = (
        State.update(value_int=int(high), timemodified=int(now))
        .where((State.name == WATERMARK) & (State.value_int == int(watermark)))
        .execute()
    )
    return bool(moved)


def _upsert(sql: _Sql, daily: str, select: str) -> str:
    """INSERT the delta rows of ``select``, adding them to the rows that exist. A delta row with no
    event of its own (a continued session's growth on its start date) keeps the row's tail."""
    if sql.kind == "mysql":
        # Left to right, each assignment sees the ones before it: open_start before last_time.
        return (
            f"INSERT INTO {daily} ({COLUMNS}) {select} ON DUPLICATE KEY UPDATE "
            "duration = duration + VALUES(duration), sessions = sessions + VALUES(sessions), "
            "events = events + VALUES(events), interactions = interactions + VALUES(interactions), "
            "open_start = IF(VALUES(last_time) > 0, VALUES(open_start), open_start), "
            "last_time = IF(VALUES(last_time) > 0, VALUES(last_time), last_time), "
            "lastupdated = VALUES(lastupdated)"
        )
    # SQLite needs a WHERE in an INSERT … SELECT … ON CONFLICT (its parser's ambiguity with a join).
    sums = ", ".join(
        f"{c} = {daily}.{c} + EXCLUDED.{c}" for c in ("duration", "sessions", "events", "interactions")
    )
    keep = ", ".join(
        f"{c} = CASE WHEN EXCLUDED.last_time > 0 THEN EXCLUDED.{c} ELSE {daily}.{c} END"
        for c in ("last_time", "open_start")
    )
    return (
        f"INSERT INTO {daily} ({COLUMNS}) SELECT * FROM ({select}) a WHERE 1 = 1 "
        f"ON CONFLICT (userid, courseid, date) DO UPDATE SET {sums}, {keep}, lastupdated = EXCLUDED.lastupdated"
    )


def _recompute(
    sql: _Sql,
    daily: str,
    pairs: list[tuple[int, int]],
    high: int,
    zone_offsets: list[tuple[int, int]],
    kept_before: str,
    config,
    now: int,
    sentinel: int,
) -> int:
    """Replace the pairs' daily rows from ``kept_before`` on by a computation from all their events."""
    db, p = sql.db, sql.p
    written = 0
    for i in range(0, len(pairs), 200):
        chunk = pairs[i : i + 200]
        flat = [value for pair in chunk for value in pair]
        # A flat OR: peewee would nest 200 parentheses, past SQLite's parser stack.
        either = " OR ".join([f"(userid = {p} AND courseid = {p})"] * len(chunk))
        db.execute_sql(f"DELETE FROM {daily} WHERE date >= {p} AND ({either})", [kept_before, *flat])
        listed = " UNION ALL ".join([f"SELECT {p} AS userid, {p} AS courseid"] * len(chunk))
        counted = _counted_events(sql, f"l.id <= {p}", pairs=listed)
        select = _daily_select(sql, counted, zone_offsets, config.session_timeout, now, sentinel)
        cursor = db.execute_sql(f"INSERT INTO {daily} ({COLUMNS}) {select}", [*flat, high])
        written += max(cursor.rowcount or 0, 0)
    return written


def _local_date(epoch: int, zone: str) -> str:
    return datetime.fromtimestamp(epoch, ZoneInfo(zone)).strftime("%Y-%m-%d")
