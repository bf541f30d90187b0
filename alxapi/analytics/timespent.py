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
        """``a`` modulo ``b`` (``%`` would be a parameter marker to PyMySQL and psycopg2)."""
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
    sql: _Sql, counted: str, zone_offsets: list[tuple[int, int]], timeout: int, now: int
) -> str:
    """Daily rows from the counted events in two window passes, the second over few rows.

    Pass 1 (every event, one sort): is the event a session start or end (the gap to the previous /
    next event of its pair over ``timeout``), the first or last of its local day, its row number and
    the running count of interactions. Only those boundary rows go on. Pass 2 gives each session
    start the time of its end (the nearest end at or after it). A day's events are then the row
    number of its last event minus that of its first plus one, its interactions the same difference
    of the running count, its sessions and durations those of the starts on it.
    """
    timeout = int(timeout)
    day = sql.day_number("timecreated", zone_offsets)
    # One running SUM carries two counts: the row number (low 32 bits) and the interactions so far
    # (high bits); each window function costs SQLite a pass, so three instead of six.
    windowed = (
        "SELECT userid, courseid, timecreated, day, own, LAG(timecreated) OVER w AS prev_t, "
        f"LEAD(timecreated) OVER w AS next_t, SUM(1 + own * {PACK}) OVER w AS packed "
        f"FROM (SELECT id, userid, courseid, timecreated, {day} AS day, "
        f"CASE WHEN edulevel = 2 THEN 1 ELSE 0 END AS own FROM ({counted}) ev) e "
        "WINDOW w AS (PARTITION BY userid, courseid ORDER BY timecreated, id ROWS UNBOUNDED PRECEDING)"
    )
    marks = (
        "SELECT userid, courseid, timecreated, day, own, "
        f"CASE WHEN timecreated - prev_t <= {timeout} THEN 0 ELSE 1 END AS is_start, "
        f"CASE WHEN next_t - timecreated <= {timeout} THEN 0 ELSE 1 END AS is_end, "
        f"CASE WHEN {sql.day_number('prev_t', zone_offsets)} = day THEN 0 ELSE 1 END AS day_first, "
        f"CASE WHEN {sql.day_number('next_t', zone_offsets)} = day THEN 0 ELSE 1 END AS day_last, "
        f"{sql.int_mod('packed', str(PACK))} AS rn, {sql.int_div('packed', str(PACK))} AS cum "
        f"FROM ({windowed}) x"
    )
    ends = (
        "SELECT m.*, MIN(CASE WHEN is_end = 1 THEN timecreated END) OVER (PARTITION BY userid, courseid "
        "ORDER BY rn ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS session_end "
        f"FROM ({marks}) m WHERE is_start = 1 OR is_end = 1 OR day_first = 1 OR day_last = 1"
    )
    return (
        f"SELECT userid, courseid, {sql.date_text('day')}, "
        "SUM(CASE WHEN is_start = 1 THEN session_end - timecreated ELSE 0 END), SUM(is_start), "
        "SUM(CASE WHEN day_last = 1 THEN rn ELSE 0 END - CASE WHEN day_first = 1 THEN rn - 1 ELSE 0 END), "
        "SUM(CASE WHEN day_last = 1 THEN cum ELSE 0 END - CASE WHEN day_first = 1 THEN cum - own ELSE 0 END), "
        f"{int(now)} FROM ({ends}) b GROUP BY userid, courseid, day"
    )


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
    p = sql.p
    log_table = sql.q(log._meta.table_name)
    say(f"reading log events {watermark + 1}..{high}")
    affected: list = []
    if mode == "incremental":
        pairs_sql = (
            f"SELECT userid, courseid, MIN(timecreated), COUNT(*) FROM "
            f"({_counted_events(sql, f'l.id > {p} AND l.id <= {p}')}) x GROUP BY userid, courseid"
        )
        affected = db.execute_sql(pairs_sql, [watermark, high]).fetchall()
        if not affected:
            State.put(WATERMARK, value_int=int(high), now=now)
            return RefreshResult(mode, 0, 0, 0, int(high), round(time.monotonic() - started, 3))
        # Each affected pair is recomputed from all its events still in the log, up to ``high``:
        # the pairs of the counted new events (the same as ``affected``, whose daily rows are deleted).
        new_pairs = (
            f"SELECT DISTINCT userid, courseid FROM {log_table} WHERE id > {p} AND id <= {p} "
            "AND userid > 0 AND anonymous = 0 AND realuserid IS NULL"
        )
        counted = _counted_events(sql, f"l.id <= {p}", pairs=new_pairs)
        params = [watermark, high, high]
        say(f"recomputing {len(affected):,} user-course pairs")
    else:
        counted = _counted_events(sql, f"l.id <= {p}")
        params = [high]
        say("recomputing every user-course pair")
    # The zone's offsets over the whole log; wider than needed is harmless.
    # Two queries: each is one step down the time index (asked together, SQLite scans the log).
    first = log.select(peewee.fn.MIN(log.timecreated)).scalar()
    last = log.select(peewee.fn.MAX(log.timecreated)).scalar()
    zone_offsets = offsets(config.timezone, int(first), int(last) + DAY)
    daily = sql.q(UserTimeDaily._meta.table_name)
    columns = "userid, courseid, date, duration, sessions, events, interactions, lastupdated"
    select = _daily_select(sql, counted, zone_offsets, config.session_timeout, now)
    # The log's retention deletes its oldest events first: rows before the local date of the oldest
    # event still in the log cannot be recomputed and stay; from that date on, a pair's rows are
    # replaced by the recomputation from all its events.
    kept_before = _local_date(int(first), config.timezone)
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
        cursor = db.execute_sql(f"INSERT INTO {daily} ({columns}) {select}", params)
        written = max(cursor.rowcount or 0, 0)
        State.put(WATERMARK, value_int=int(high), now=now)
    if mode == "full":
        # What was recomputed, read back from the daily table (its unique index) rather than by
        # grouping the whole log once more.
        d = UserTimeDaily
        events = int(
            d.select(peewee.fn.COALESCE(peewee.fn.SUM(d.events), 0)).where(d.date >= kept_before).scalar()
        )
        pairs_done = (
            d.select(d.userid, d.courseid).where(d.date >= kept_before).group_by(d.userid, d.courseid).count()
        )
    else:
        events, pairs_done = sum(int(n) for *_rest, n in affected), len(affected)
    return RefreshResult(mode, events, pairs_done, written, int(high), round(time.monotonic() - started, 3))


def _local_date(epoch: int, zone: str) -> str:
    return datetime.fromtimestamp(epoch, ZoneInfo(zone)).strftime("%Y-%m-%d")
