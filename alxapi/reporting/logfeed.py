"""Moodle's standard log as the change feed of incremental syncs.

Moodle writes an event into ``logstore_standard_log`` for the changes that matter to a reporting
row: enrolments created, updated or deleted; roles assigned or unassigned; activity and course
completions; users updated or deleted; courses reset or restored. Read by primary key from a
watermark (an event id), the events since the last run cost what happened, not the size of the
site, and they name the exact (user, course) pairs, users and courses to recompute.

The feed is believed only while it can vouch for every event since the watermark:

* ``tool_log`` lists ``logstore_standard`` among its enabled stores;
* the event at the watermark is still there, with the time it had (neither log retention nor a
  truncated or restored table moved the ids under us);
* no id after the watermark has been missing for longer than the grace. An id missing for a
  moment is an event whose transaction has not committed yet: the watermark stops before it and
  the events after it are read again next time (queueing a pair twice costs one recomputation,
  never a wrong row). An id missing for longer was rolled back, or deleted, and the log cannot say
  what it was.

When it cannot vouch, the caller runs the full detection of :mod:`.changes` (timestamps and
fingerprints), which is also run every ``reconcile_hours`` as the safety net for changes Moodle
makes without an event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import peewee

from models.db import DB_ERRORS, error_detail
from models.moodle import CONTEXT_COURSE, ConfigPlugin, LogstoreStandardLog
from models.plugin import State

from .dialect import Dialect

WATERMARK = (
    "log_watermark"  # value_int: an event id; value_text: its timecreated; timemodified: the run's now
)
LOG_STORE = "logstore_standard"

# Events naming a (user, course) pair: relateduserid is the learner, courseid the course.
PAIR_EVENTS = (
    "\\core\\event\\user_enrolment_created",
    "\\core\\event\\user_enrolment_updated",
    "\\core\\event\\user_enrolment_deleted",
    "\\core\\event\\course_module_completion_updated",
    "\\core\\event\\course_completed",
)
# Role (un)assignments: only those in a course's own context count (SPEC §3.2).
ROLE_EVENTS = ("\\core\\event\\role_assigned", "\\core\\event\\role_unassigned")
# A user's name, e-mail, suspension or deletion: every pair of the user.
USER_EVENTS = ("\\core\\event\\user_updated", "\\core\\event\\user_deleted")
# Changes to a whole course's completions or enrolments that Moodle logs once for the course.
# (Course settings, enrol instances and activities are compared by fingerprints on every run.)
COURSE_EVENTS = (
    "\\core\\event\\course_reset_ended",
    "\\core\\event\\course_completion_updated",
    "\\core\\event\\course_restored",
    "\\core\\event\\course_content_deleted",
    "\\core\\event\\course_deleted",
)

Enqueue = Callable[[str, str, list], int]  # (kind, SELECT of (kind, a, b), params) -> rows queued


@dataclass(frozen=True)
class Position:
    """An event of the log: its id and its timecreated (0, 0 before the first event)."""

    id: int
    time: int


@dataclass(frozen=True)
class Window:
    """The events after the watermark, and how far the watermark may move."""

    start: Position | None  # the watermark (None: the feed has never run)
    end: Position  # the next watermark: the last event before the first id still missing
    last_id: int  # the highest id present: events in (start, last_id] are queued
    distrust: str | None  # why the log cannot vouch for the window (the caller runs the full detection)
    previous_run: int  # the time of the run that set the watermark (0 if none)


class LogFeed:
    def __init__(self, db: peewee.Database, log_table: str, grace: int):
        self.db = db
        self.log = log_table
        self.d = Dialect(db)
        self.grace = grace

    # -- is the log kept at all? -----------------------------------------------------------
    def unusable(self) -> str | None:
        """Why Moodle's standard log cannot be the feed (None: it can): tool_log's
        enabled_stores must name logstore_standard."""
        try:
            # A savepoint: on PostgreSQL a refused read would otherwise abort the caller's transaction.
            with self.db.atomic():
                value = (
                    ConfigPlugin.select(ConfigPlugin.value)
                    .where((ConfigPlugin.plugin == "tool_log") & (ConfigPlugin.name == "enabled_stores"))
                    .scalar()
                )
        except DB_ERRORS as exc:
            return f"Moodle's config_plugins cannot be read ({error_detail(exc)})"
        if LOG_STORE not in [s.strip() for s in (value or "").split(",")]:
            return "logstore_standard is not enabled"
        return None

    # -- where we are ------------------------------------------------------------------------
    def position(self) -> tuple[Position, int] | None:
        row = State.get_or_none(State.name == WATERMARK)
        if row is None:
            return None
        return Position(row.value_int, int(row.value_text or 0)), row.timemodified

    def save(self, position: Position, now: int) -> None:
        State.put(WATERMARK, value_int=position.id, value_text=str(position.time), now=now)

    def _time_of(self, event_id: int) -> int | None:
        row = self.db.execute_sql(
            f"SELECT timecreated FROM {self.log} WHERE id = {self.d.param}", [event_id]
        ).fetchone()
        return None if row is None else int(row[0])

    def head(self) -> Position:
        top = self.db.execute_sql(f"SELECT MAX(id) FROM {self.log}").fetchone()[0]
        if top is None:
            return Position(0, 0)
        return Position(int(top), self._time_of(int(top)) or 0)

    # -- the window ----------------------------------------------------------------------------
    def window(self, now: int) -> Window:
        saved = self.position()
        if saved is None:
            return Window(None, self.head(), 0, "the log feed has no watermark yet", 0)
        start, previous_run = saved
        if start.id and self._time_of(start.id) != start.time:
            head = self.head()
            return Window(
                start,
                head,
                head.id,
                f"the event at the watermark (id {start.id}) is gone or changed "
                "(log retention, or the log was truncated or restored)",
                previous_run,
            )
        p = self.d.param
        count, top = self.db.execute_sql(
            f"SELECT COUNT(*), MAX(id) FROM {self.log} WHERE id > {p}", [start.id]
        ).fetchone()
        if not count:
            return Window(start, start, start.id, None, previous_run)
        top = int(top)
        if count == top - start.id:  # no id missing: the common case, answered by the index alone
            return Window(start, Position(top, self._time_of(top) or 0), top, None, previous_run)
        return self._window_with_gaps(start, top, now, previous_run)

    def _window_with_gaps(self, start: Position, top: int, now: int, previous_run: int) -> Window:
        p = self.d.param
        # Each present event whose predecessor id is missing, with the last event before the gap.
        gaps = self.db.execute_sql(
            f"SELECT g.prev_id, g.prev_time, g.id, g.timecreated FROM ("
            f"SELECT id, timecreated, COALESCE(LAG(id) OVER (ORDER BY id), {p}) AS prev_id, "
            f"COALESCE(LAG(timecreated) OVER (ORDER BY id), {p}) AS prev_time "
            f"FROM {self.log} WHERE id > {p}) g WHERE g.id > g.prev_id + 1 ORDER BY g.id",
            [start.id, start.time, start.id],
        ).fetchall()
        distrust = None
        for prev_id, prev_time, after_id, after_time in gaps:
            if now - int(after_time) <= self.grace:
                # A young gap: perhaps a transaction still open. Stop before it.
                return Window(start, Position(int(prev_id), int(prev_time)), top, distrust, previous_run)
            distrust = distrust or (
                f"log ids {int(prev_id) + 1}..{int(after_id) - 1} are missing for more than "
                f"{self.grace}s (a rolled-back or deleted event cannot be read)"
            )
        return Window(start, Position(top, self._time_of(top) or 0), top, distrust, previous_run)

    # -- events to queue items ------------------------------------------------------------------
    def enqueue(self, window: Window, enqueue: Enqueue) -> int:
        """Queue what the events of the window name; return how many new queue items that made."""
        if window.start is None or window.last_id <= window.start.id:
            return 0
        p = self.d.param
        bounds = [window.start.id, window.last_id]
        in_window = f"l.id > {p} AND l.id <= {p}"

        def names(events: tuple[str, ...]) -> str:
            return f"l.eventname IN ({', '.join([p] * len(events))})"

        queued = enqueue(
            "pair",
            f"SELECT DISTINCT {p}, l.relateduserid, l.courseid FROM {self.log} l "
            f"WHERE {in_window} AND {names(PAIR_EVENTS)} AND l.relateduserid > 0 AND l.courseid > 0",
            [*bounds, *PAIR_EVENTS],
        )
        queued += enqueue(
            "pair",
            f"SELECT DISTINCT {p}, l.relateduserid, l.contextinstanceid FROM {self.log} l "
            f"WHERE {in_window} AND {names(ROLE_EVENTS)} AND l.contextlevel = {CONTEXT_COURSE} "
            f"AND l.relateduserid > 0",
            [*bounds, *ROLE_EVENTS],
        )
        queued += enqueue(
            "user",
            f"SELECT DISTINCT {p}, l.relateduserid, 0 FROM {self.log} l "
            f"WHERE {in_window} AND {names(USER_EVENTS)} AND l.relateduserid > 0",
            [*bounds, *USER_EVENTS],
        )
        queued += enqueue(
            "course",
            f"SELECT DISTINCT {p}, l.courseid, 0 FROM {self.log} l "
            f"WHERE {in_window} AND {names(COURSE_EVENTS)} AND l.courseid > 0",
            [*bounds, *COURSE_EVENTS],
        )
        return queued


def forget_position() -> None:
    State.delete().where(State.name == WATERMARK).execute()


def feed_status(db: peewee.Database, wanted: bool) -> tuple[bool, str]:
    """(whether incremental syncs read Moodle's log, a sentence saying why) for `alx check`."""
    if not wanted:
        return False, "off (sync_log_feed = false): every incremental sync runs the full detection"
    why = LogFeed(db, log_table(db), grace=0).unusable()
    if why is None:
        return True, "Moodle's standard log (logstore_standard is enabled)"
    hint = (
        "enable it in Site administration > Plugins > Logging"
        if why.startswith("logstore_standard")
        else "grant SELECT on it (see LEAST-PRIVILEGE GRANTS)"
    )
    return False, f"off: {why}; {hint}; every incremental sync runs the full detection"


def log_table(db: peewee.Database) -> str:
    return Dialect(db).q(LogstoreStandardLog._meta.table_name)
