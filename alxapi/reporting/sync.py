"""The sync engine (SPEC §3.4): keep the reporting table equal to the §3.2 rules, writing only changes.

A run: take the database lock, record the run, build the members work table, then either
snapshot the baseline and queue every course (full sync) or detect changes and queue them
(incremental), then apply the queue in batches — one transaction each, a new change sequence
per batch — until it is empty, the time budget is spent or a stop is requested. Work left in the
queue is picked up by the next run, whatever kind it is.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import peewee

from models.db import DB_ERRORS, describe_error, error_detail, table_prefix
from models.plugin import Reporting, State, SyncQueue, SyncRun

from .changes import ChangeDetector, Detection
from .dialect import Dialect
from .lock import SyncLock
from .logfeed import LogFeed, forget_position, log_table
from .rules import KEY_COLUMNS, VALUE_COLUMNS, Tables, members_sql, role_ids, rows_query
from .sources import SourcesUnreadable, require_sources

log = logging.getLogger("alx.sync")

CHANGE_SEQ = "change_seq"
# A full sync computes this many batches' worth of courses in one statement, then writes them
# one batch per transaction (see SyncEngine._apply_courses). On the servers, few large
# computations: PostgreSQL plans each one as hash joins over whole source tables, so each costs
# about as much as one over the whole site (1M-enrolment bench: 30 computations of 30,000 rows took
# 26 s, one took 6 s; MariaDB gains too), and the fresh work table lives on disk. SQLite plans
# each computation through the indexes and keeps the fresh table in memory (temp_store), so
# smaller ones are cheaper there and keep the process under its memory goal.
COMPUTE_BATCHES = {"sqlite": 30, "mysql": 1000, "postgresql": 1000}
# A run that wrote at least this many rows refreshes the reporting table's planner statistics.
ANALYZE_AFTER_ROWS = 50_000
# What a recomputed row means for the reporting table (the fresh table's ``action``).
SAME, NEW, CHANGED, REVIVED = 0, 1, 2, 3
ACTIONS = (SAME, NEW, CHANGED, REVIVED)
TEXT_COLUMNS = ("firstname", "lastname", "email", "username", "coursename", "status")


@dataclass
class SyncOptions:
    full: bool = False
    companyid: int | None = None
    batch_size: int = 1000
    max_sync_time: int = 300
    report_roles: list[str] = field(default_factory=lambda: ["student"])
    overlap_seconds: int = 300
    lock_stale_seconds: int = 900
    # Moodle's log as the change feed (when logstore_standard is enabled), backed by the full
    # detection every ``reconcile_hours`` (see logfeed.py).
    log_feed: bool = True
    reconcile_hours: float = 6.0


@dataclass
class SyncResult:
    run_id: int = 0
    mode: str = "incremental"
    companyid: int = 0
    status: str = "running"
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    batches: int = 0
    remaining: int = 0
    seconds: float = 0.0
    error: str | None = None
    # How the work was found: "log" (Moodle's log), "full detection: <why>", or "full sync".
    detection: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def found_by(self) -> str:
        """How an incremental run found its work, for a summary line ("" for a full run)."""
        if self.mode != "incremental":
            return ""
        return (
            "changes read from Moodle's log"
            if self.detection == "log"
            else f"changes found by {self.detection}"
        )


Progress = Callable[[SyncResult, int, int], None]  # (so far, batches done, batches queued)


class SyncEngine:
    def __init__(
        self,
        db: peewee.Database,
        options: SyncOptions,
        *,
        clock: Callable[[], int],
        stop: threading.Event | None = None,
        progress: Progress | None = None,
    ):
        self.db = db
        self.opt = options
        self.clock = clock
        self.stop = stop or threading.Event()
        self.progress = progress
        self.d = Dialect(db)
        work_prefix = table_prefix() if self.d.name == "mysql" else ""
        self.t = Tables.current(db, work_prefix)
        self.reporting = self.d.q(Reporting._meta.table_name)
        self.detector = ChangeDetector(db, self.t, options.report_roles, options.overlap_seconds)

    # -- run ------------------------------------------------------------------------------
    def run(self) -> SyncResult:
        """Run one sync. Raises LockHeld if another sync holds the lock."""
        started = time.monotonic()
        lock = SyncLock(self.opt.lock_stale_seconds)
        with self.db.connection_context(), self.d.reads_without_locks():
            try:
                with self.db.atomic():
                    lock.acquire(self.clock())
            except BaseException:
                lock.forget()  # never acquired, or its transaction did not commit
                raise
            # The run starts once it holds the lock: read before, a start time could precede the end
            # of the run it waited for (connecting takes time), and the history would show an overlap.
            now = self.clock()
            if lock.took_over:
                log.warning("took over the sync lease of %s, which is gone", lock.took_over)
            result = SyncResult(companyid=self.opt.companyid or 0)
            try:
                self._close_abandoned_runs(now)
                result.run_id = SyncRun.insert(
                    mode="pending",
                    companyid=result.companyid,
                    status="running",
                    timestarted=now,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                ).execute()
                require_sources(self.db)
                self._create_work_tables()
                self._fill_members()
                self.role_ids = role_ids(self.db, self.t, self.opt.report_roles)
                result.mode = self._queue_work(now, result)
                self._apply_queue(result, now, lock, started)
                self._refresh_statistics(result)
            except DB_ERRORS as exc:
                message = describe_error(exc, getattr(self.db, "alx_lock_timeout", None))
                if message is None:  # recorded, then re-raised for the caller to report
                    result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
                    log.error("sync failed: %s", result.error)
                    log.debug("sync failed", exc_info=True)
                    raise
                # The server went away, or a lock wait timed out: the batch in flight was rolled
                # back, committed batches stay, the queue keeps the rest for the next run.
                message = (
                    f"sync failed: {message}; the batch in progress was rolled back, "
                    f"{result.batches} batches were committed, the next run resumes"
                )
                result.status, result.error = "failed", message
                log.error("%s", message)
                log.debug("sync failed", exc_info=True)
                raise peewee.OperationalError(message) from exc
            except SourcesUnreadable as exc:  # recorded (the alert rules see it), then re-raised
                result.status, result.error = "failed", str(exc)
                log.error("sync failed: %s", exc)
                raise
            except Exception as exc:  # recorded, then re-raised for the caller to report
                result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
                log.exception("sync failed")
                raise
            finally:
                result.seconds = round(time.monotonic() - started, 3)
                missed = []
                if not self._finish_run(result):
                    missed.append("its end was not recorded (the next run marks it failed)")
                self._drop_work_tables()
                try:
                    lock.release()
                except DB_ERRORS as exc:
                    # The server is gone: the lease expires after lock_stale_seconds, or the next
                    # sync of this process takes it over (see lock.py).
                    missed.append(
                        f"its lock was not released ({error_detail(exc)}; it expires after "
                        f"lock_stale_seconds)"
                    )
                if missed:
                    log.warning("sync run %s: %s", result.run_id or "-", "; ".join(missed))
        return result

    def _close_abandoned_runs(self, now: int) -> None:
        """Runs still 'running' while we hold the lock were killed: mark them failed."""
        (
            SyncRun.update(
                status="failed",
                timefinished=now,
                error="interrupted (process ended mid-run, or it lost its database connection)",
            )
            .where(SyncRun.status == "running")
            .execute()
        )

    def _finish_run(self, result: SyncResult) -> bool:
        if not result.run_id:
            return True  # failed before the run was recorded
        try:
            with self.db.atomic():
                (
                    SyncRun.update(
                        mode=result.mode,
                        status=result.status,
                        timefinished=self.clock(),
                        created=result.created,
                        updated=result.updated,
                        deleted=result.deleted,
                        unchanged=result.unchanged,
                        duration_ms=int(result.seconds * 1000),
                        error=result.error,
                    )
                    .where(SyncRun.id == result.run_id)
                    .execute()
                )
        except DB_ERRORS as exc:
            log.debug("could not record the end of sync run %s: %s", result.run_id, error_detail(exc))
            return False
        return True

    # -- work tables ----------------------------------------------------------------------
    def _create_work_tables(self) -> None:
        t = self.t
        values = (
            "firstname VARCHAR(100), lastname VARCHAR(100), email VARCHAR(100), username VARCHAR(100), "
            "coursename VARCHAR(1333), timecompleted BIGINT, timestarted BIGINT, "
            "percentage DECIMAL(5,2), status VARCHAR(20)"
        )
        for name, columns in (
            (t.members, "userid BIGINT NOT NULL, companyid BIGINT NOT NULL, PRIMARY KEY (userid, companyid)"),
            (t.scope, "userid BIGINT NOT NULL, courseid BIGINT NOT NULL, PRIMARY KEY (userid, courseid)"),
            (
                t.fresh,
                f"companyid BIGINT NOT NULL, userid BIGINT NOT NULL, courseid BIGINT NOT NULL, {values}, "
                # Keyed by course first: each batch of a chunk reads its courses' rows by range.
                "action SMALLINT NOT NULL, PRIMARY KEY (courseid, userid, companyid)",
            ),
        ):
            for sql in self.d.create_work_table(name, columns):
                self.db.execute_sql(sql)

    def _drop_work_tables(self) -> None:
        for name in (self.t.members, self.t.scope, self.t.fresh):
            try:
                self.db.execute_sql(f"DROP TABLE IF EXISTS {name}")
            except DB_ERRORS as exc:
                # The next run drops and re-creates them (TEMPORARY ones went with the connection).
                log.debug("could not drop work table %s: %s", name, error_detail(exc))
                return

    def _fill_members(self) -> None:
        with self.db.atomic():
            self.db.execute_sql(f"DELETE FROM {self.t.members}")
            self.db.execute_sql(f"INSERT INTO {self.t.members} (userid, companyid) {members_sql(self.t)}")
            for statement in self.d.analyze(self.t.members):
                self.db.execute_sql(statement)

    # -- what to do -----------------------------------------------------------------------
    def _queue_work(self, now: int, result: SyncResult) -> str:
        """Fill the queue; return the run's mode."""
        opt = self.opt
        with self.db.atomic():
            if opt.companyid is not None:
                self.detector.enqueue_courses(self._all_courses(opt.companyid), companyid=opt.companyid)
                result.detection = "full sync of one company"
                return "full"
            feed, off = self._log_feed()
            # A table without rows (first sync, or re-created by `alx check --repair`) needs a full sync.
            if opt.full or self.detector.watermark() is None or not self._has_rows("1 = 1", []):
                head = feed.head() if feed else None  # before the snapshot: later events are read next time
                courses = self.detector.snapshot_all(now)
                self.detector.enqueue_courses(set(courses) | set(self._all_courses(None)))
                if feed is not None and head is not None:
                    feed.save(head, now)
                result.detection = "full sync"
                return "full"
            found, result.detection = self._detect(now, feed, off)
            log.info(
                "changes (%s): %d from the log, %d pairs, %d users, %d courses, deletions in %s",
                result.detection,
                found.events,
                found.pairs,
                found.users,
                len(found.courses),
                found.deletions_in or "none",
            )
            return "incremental"

    def _log_feed(self) -> tuple[LogFeed | None, str]:
        """The log feed, or None and why not."""
        if not self.opt.log_feed:
            return None, "the log feed is off"
        feed = LogFeed(self.db, log_table(self.db), grace=self.opt.overlap_seconds)
        why = feed.unusable()
        return (None, why) if why else (feed, "")

    def _detect(self, now: int, feed: LogFeed | None, off: str) -> tuple[Detection, str]:
        """Queue what changed since the last run: from Moodle's log, or by the full detection."""
        if feed is None:
            # Events written meanwhile are covered by the full detection: a feed turned on again
            # starts from the log's end (after one more full detection), not from an old position.
            forget_position()
            return self.detector.detect(now), f"full detection: {off}"
        window = feed.window(now)
        events = feed.enqueue(window, self.detector.enqueue_select)
        why = window.distrust
        last_full = self.detector.watermark() or 0
        if why is None and now - last_full >= round(self.opt.reconcile_hours * 3600):
            why = f"the safety net, every {self.opt.reconcile_hours:g} h"
        found = self.detector.detect(now) if why else self.detector.detect_light(now, window.previous_run)
        found.events = events
        feed.save(window.end, now)
        return found, f"full detection: {why}" if why else "log"

    def _all_courses(self, companyid: int | None) -> list[int]:
        """Courses that may hold rows: every Moodle course plus every course already reported."""
        courses = {r[0] for r in self.db.execute_sql(f"SELECT id FROM {self.t.course}").fetchall()}
        if companyid is None:
            sql, params = f"SELECT DISTINCT courseid FROM {self.reporting}", []
        else:
            sql, params = (
                f"SELECT DISTINCT courseid FROM {self.reporting} WHERE companyid = {self.d.param}",
                [companyid],
            )
        courses |= {r[0] for r in self.db.execute_sql(sql, params).fetchall()}
        return sorted(courses)

    # -- applying the queue ---------------------------------------------------------------
    def _apply_queue(self, result: SyncResult, now: int, lock: SyncLock, started: float) -> None:
        total = SyncQueue.select().count()
        sizes = self.detector.course_sizes()
        progress = {"done": 0}

        def committed(items: int) -> bool:
            """Called after each committed transaction: renew the lease, report, say whether to go on."""
            lock.renew(self.clock())
            result.batches += 1
            progress["done"] += items
            if self.progress:
                self.progress(result, progress["done"], total)
            return self._may_continue(result, started)

        while self._may_continue(result, started):
            courses = self._next_courses(sizes)
            if courses:
                self._apply_courses(courses, sizes, result, now, committed)
                continue
            pairs = self._next_pairs()
            if not pairs:
                result.status = "success"
                break
            with self.db.atomic():
                self._apply_pairs(pairs, result, now)
            committed(len(pairs))
        result.remaining = SyncQueue.select().count()

    def _refresh_statistics(self, result: SyncResult) -> None:
        """Give PostgreSQL fresh statistics of the reporting table after a large change.

        Autovacuum analyses a table about a minute after it changed; a sync that runs before then
        (the next incremental, or the API) is planned against the table as it was. On the bench,
        the incremental run right after a full sync into an empty table spent 5 s instead of
        0.1 s tombstoning 5,000 pairs, planned as if the table were still empty.
        """
        if result.created + result.updated + result.deleted >= ANALYZE_AFTER_ROWS:
            for statement in self.d.analyze(self.reporting):
                self.db.execute_sql(statement)

    def _may_continue(self, result: SyncResult, started: float) -> bool:
        if self.stop.is_set():
            result.status, result.error = "partial", "stopped on request; the next run resumes"
            return False
        if time.monotonic() - started > self.opt.max_sync_time:
            result.status = "partial"
            result.error = f"time budget of {self.opt.max_sync_time}s spent; the next run resumes"
            return False
        return True

    def _next_courses(self, sizes: dict[int, int]) -> list[SyncQueue]:
        """Queued courses (one company scope) for one computation (see COMPUTE_BATCHES)."""
        wanted = self.opt.batch_size * COMPUTE_BATCHES[self.d.name]
        candidates = list(
            SyncQueue.select()
            .where(SyncQueue.kind == "course")
            .order_by(SyncQueue.b, SyncQueue.a)
            .limit(wanted)
        )
        chunk, rows = [], 0
        for item in candidates:
            if item.b != candidates[0].b or rows >= wanted:
                break
            chunk.append(item)
            rows += max(sizes.get(item.a, 1), 1)
        return chunk

    def _next_pairs(self) -> list[SyncQueue]:
        return list(
            SyncQueue.select()
            .where(SyncQueue.kind != "course")
            .order_by(SyncQueue.id)
            .limit(self.opt.batch_size)
        )

    def _split(self, items: list[SyncQueue], sizes: dict[int, int]) -> list[list[SyncQueue]]:
        """Whole courses making up at least ``batch_size`` rows each (by their enrolment counts)."""
        batches, batch, rows = [], [], 0
        for item in items:
            batch.append(item)
            rows += max(sizes.get(item.a, 1), 1)
            if rows >= self.opt.batch_size:
                batches.append(batch)
                batch, rows = [], 0
        return batches + ([batch] if batch else [])

    def _course_scope(self, courses: list[int], companyid: int | None) -> tuple[str, list]:
        p = self.d.param
        sql = f"{self.reporting}.courseid IN ({', '.join([p] * len(courses))})"
        params: list = list(courses)
        if companyid:
            sql += f" AND {self.reporting}.companyid = {p}"
            params.append(companyid)
        return sql, params

    def _apply_courses(
        self,
        chunk: list[SyncQueue],
        sizes: dict[int, int],
        result: SyncResult,
        now: int,
        committed: Callable[[int], bool],
    ) -> None:
        """Recompute a chunk of courses in one statement, then write it one batch per transaction.

        Computing many courses at once is markedly cheaper than one statement per batch; the
        writes still commit batch by batch, so a stop or crash loses at most the batch in flight.
        """
        t, p = self.t, self.d.param
        companyid = chunk[0].b or None
        courses = [item.a for item in chunk]
        select, params = rows_query(
            t, p, now=now, role_ids=self.role_ids, courses=courses, companyid=companyid
        )
        self.db.execute_sql(f"DELETE FROM {t.fresh}")
        # With no row of these courses in the table yet (first sync, new courses), there is
        # nothing to compare with: skip the per-row lookups.
        compare = self._has_rows(*self._course_scope(courses, companyid))
        self._fill_fresh(select, params, compare=compare)
        actions = self._actions_by_course()
        live = self._live_rows_by_course(courses, companyid)
        for batch in self._split(chunk, sizes):
            ids = [item.a for item in batch]
            counts = {action: sum(actions.get((c, action), 0) for c in ids) for action in ACTIONS}
            # Rows vanished only where a course has more live rows than live rows recomputed.
            vanished = any(
                live.get(c, 0) > actions.get((c, SAME), 0) + actions.get((c, CHANGED), 0) for c in ids
            )
            with self.db.atomic():
                self._write_batch(
                    result,
                    now,
                    *self._course_scope(ids, companyid),
                    counts=counts,
                    may_tombstone=vanished,
                    fresh_filter=f"f.courseid IN ({', '.join([p] * len(ids))})",
                    fresh_params=ids,
                    only_new=not compare,
                )
                self._dequeue(batch)
            if not committed(len(batch)):
                return

    def _actions_by_course(self) -> dict[tuple[int, int], int]:
        rows = self.db.execute_sql(
            f"SELECT courseid, action, COUNT(*) FROM {self.t.fresh} GROUP BY courseid, action"
        )
        return {(course, action): n for course, action, n in rows.fetchall()}

    def _live_rows_by_course(self, courses: list[int], companyid: int | None) -> dict[int, int]:
        scope_sql, params = self._course_scope(courses, companyid)
        rows = self.db.execute_sql(
            f"SELECT courseid, COUNT(*) FROM {self.reporting} WHERE {scope_sql} "
            f"AND is_deleted = 0 GROUP BY courseid",
            params,
        )
        return dict(rows.fetchall())

    def _apply_pairs(self, batch: list[SyncQueue], result: SyncResult, now: int) -> None:
        t, p = self.t, self.d.param
        self.db.execute_sql(f"DELETE FROM {t.fresh}")
        self.db.execute_sql(f"DELETE FROM {t.scope}")
        self._fill_scope(batch)
        select, params = rows_query(t, p, now=now, role_ids=self.role_ids, driving_join=self.d.driving_join())
        self._fill_fresh(select, params)
        # Driven from the scope's few pairs (an EXISTS per reporting row would read them all); the
        # extra derived table lets MariaDB update a table that its own subquery reads.
        scope_sql = (
            f"{self.reporting}.id IN (SELECT id FROM (SELECT r.id FROM {t.scope} s "
            f"{self.d.driving_join()} {self.reporting} r ON r.userid = s.userid "
            f"AND r.courseid = s.courseid) x)"
        )
        counts = dict(
            self.db.execute_sql(f"SELECT action, COUNT(*) FROM {t.fresh} GROUP BY action").fetchall()
        )
        self._write_batch(
            result,
            now,
            scope_sql,
            [],
            counts=counts,
            may_tombstone=True,
            fresh_filter="1 = 1",
            fresh_params=[],
            tombstone_sql=self.d.tombstone_pairs(self.reporting, t.scope, t.fresh),
        )
        self._dequeue(batch)

    def _write_batch(
        self,
        result: SyncResult,
        now: int,
        scope_sql: str,
        scope_params: list,
        *,
        counts: dict[int, int],
        may_tombstone: bool,
        fresh_filter: str,
        fresh_params: list,
        tombstone_sql: str | None = None,
        only_new: bool = False,
    ) -> None:
        """Apply the diff held in the fresh table for one batch's scope (inside its transaction).

        ``tombstone_sql``: an engine-specific statement for the tombstones (parameters: seq, now, now).
        """
        t, p = self.t, self.d.param
        seq = self._current_seq() + 1
        changed = sum(counts.get(a, 0) for a in (NEW, CHANGED, REVIVED))
        if changed:
            self._write_changes(seq, now, fresh_filter, fresh_params, only_new)
        tombstoned = 0
        if may_tombstone and tombstone_sql:
            tombstoned = self.db.execute_sql(tombstone_sql, [seq, now, now]).rowcount or 0
        elif may_tombstone:
            tombstoned = (
                self.db.execute_sql(
                    f"UPDATE {self.reporting} SET is_deleted = 1, change_seq = {p}, last_updated = {p}, timemodified = {p} "
                    f"WHERE {scope_sql} AND is_deleted = 0 AND NOT EXISTS (SELECT 1 FROM {t.fresh} f "
                    f"WHERE f.companyid = {self.reporting}.companyid AND f.userid = {self.reporting}.userid "
                    f"AND f.courseid = {self.reporting}.courseid)",
                    [seq, now, now, *scope_params],
                ).rowcount
                or 0
            )
        if changed or tombstoned:
            self._set_seq(seq, now)
        result.created += counts.get(NEW, 0)
        result.updated += counts.get(CHANGED, 0) + counts.get(REVIVED, 0)
        result.unchanged += counts.get(SAME, 0)
        result.deleted += tombstoned

    @staticmethod
    def _dequeue(items: list[SyncQueue]) -> None:
        ids = [item.id for item in items]
        for i in range(0, len(ids), 500):
            SyncQueue.delete().where(SyncQueue.id.in_(ids[i : i + 500])).execute()

    @staticmethod
    def _set_seq(seq: int, now: int) -> None:
        State.update(value_int=seq, timemodified=now).where(State.name == CHANGE_SEQ).execute()

    def _has_rows(self, scope_sql: str, scope_params: list) -> bool:
        """Does the reporting table hold any row (live or tombstoned) in the batch's scope?"""
        row = self.db.execute_sql(
            f"SELECT 1 FROM {self.reporting} WHERE {scope_sql} LIMIT 1", scope_params
        ).fetchone()
        return row is not None

    def _fill_scope(self, batch: list[SyncQueue]) -> None:
        """Expand pair and user items into the (user, course) pairs to recompute."""
        t, p = self.t, self.d.param
        pairs = [(item.a, item.b) for item in batch if item.kind == "pair"]
        users = sorted({item.a for item in batch if item.kind == "user"})
        scope_insert = lambda select: self.d.insert_ignore(t.scope, "userid, courseid", select)  # noqa: E731
        for i in range(0, len(pairs), 400):
            chunk = pairs[i : i + 400]
            values = " UNION ALL ".join([f"SELECT {p}, {p}"] * len(chunk))
            flat = [v for pair in chunk for v in pair]
            self.db.execute_sql(scope_insert(f"SELECT * FROM ({values}) v"), flat)
        for i in range(0, len(users), 400):
            chunk = users[i : i + 400]
            in_list = ", ".join([p] * len(chunk))
            self.db.execute_sql(
                scope_insert(
                    f"SELECT ue.userid, e.courseid FROM {t.user_enrolments} ue JOIN {t.enrol} e ON e.id = ue.enrolid "
                    f"WHERE ue.userid IN ({in_list})"
                ),
                chunk,
            )
            # The key index leads with the company: look the users up in every company.
            self.db.execute_sql(
                scope_insert(
                    f"SELECT r.userid, r.courseid FROM {self.reporting} r WHERE r.companyid IN "
                    f"(SELECT DISTINCT companyid FROM {self.reporting}) AND r.userid IN ({in_list})"
                ),
                chunk,
            )

    def _fill_fresh(self, select: str, params: list, compare: bool = True) -> None:
        """Recompute rows into the fresh table with their action (SAME, NEW, CHANGED or REVIVED)."""
        t = self.t
        columns = ", ".join((*KEY_COLUMNS, *VALUE_COLUMNS))
        q_columns = ", ".join(f"q.{c}" for c in (*KEY_COLUMNS, *VALUE_COLUMNS))
        if not compare:
            self.db.execute_sql(
                f"INSERT INTO {t.fresh} ({columns}, action) SELECT {q_columns}, {NEW} FROM ({select}) q",
                params,
            )
            return
        differs = " OR ".join(
            self.d.text_differs(f"r.{c}", f"q.{c}") if c in TEXT_COLUMNS else f"r.{c} <> q.{c}"
            for c in VALUE_COLUMNS
        )
        self.db.execute_sql(
            f"INSERT INTO {t.fresh} ({columns}, action) "
            f"SELECT {q_columns}, CASE WHEN r.id IS NULL THEN {NEW} WHEN r.is_deleted = 1 THEN {REVIVED} "
            f"WHEN {differs} THEN {CHANGED} ELSE {SAME} END "
            f"FROM ({select}) q LEFT JOIN {self.reporting} r "
            f"ON r.companyid = q.companyid AND r.userid = q.userid AND r.courseid = q.courseid",
            params,
        )

    def _write_changes(
        self, seq: int, now: int, fresh_filter: str, fresh_params: list, only_new: bool = False
    ) -> None:
        """Write the batch's new and changed rows; ``only_new``: the scope had no row at all, so a
        plain INSERT does (PostgreSQL's ON CONFLICT path costs more than twice as much per row)."""
        p = self.d.param
        columns = [
            *KEY_COLUMNS,
            *VALUE_COLUMNS,
            "is_deleted",
            "change_seq",
            "last_updated",
            "timecreated",
            "timemodified",
        ]
        select = (
            f"SELECT {', '.join(f'f.{c}' for c in (*KEY_COLUMNS, *VALUE_COLUMNS))}, 0, {p}, {p}, {p}, {p} "
            f"FROM {self.t.fresh} f WHERE f.action > 0 AND {fresh_filter}"
        )
        update = [*VALUE_COLUMNS, "is_deleted", "change_seq", "last_updated", "timemodified"]
        sql = (
            f"INSERT INTO {self.reporting} ({', '.join(columns)}) {select}"
            if only_new
            else self.d.upsert(self.reporting, columns, select, list(KEY_COLUMNS), update)
        )
        self.db.execute_sql(sql, [seq, now, now, now, *fresh_params])

    def _current_seq(self) -> int:
        row = State.get_or_none(State.name == CHANGE_SEQ)
        if row is None:
            State.insert(name=CHANGE_SEQ, value_int=0).execute()
            return 0
        return row.value_int
