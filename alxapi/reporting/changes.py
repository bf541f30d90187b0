"""Change detection for incremental syncs: what to recompute, found cheaply and without misses.

Three kinds of evidence, all turned into items of the persistent queue (``SyncQueue``) in the
same transaction that records the new baseline, so a crash never loses found work:

1. Timestamps and new ids: rows of the big source tables modified or created since the last
   detection (minus a safety overlap) name exact (user, course) pairs or users. Enrolments whose
   start or end time passed since the last detection are found the same way.
2. Snapshots: company membership and user flags (``SyncMember``) are diffed exactly in SQL.
3. Fingerprints: per-course digests of the small tables (course, its context, enrol instances,
   course modules) and of the reported roles; and, for the big tables, a global (count, max id)
   that reveals deletions, which leave no timestamp. Only when a table lost rows are its
   per-course (count, sum of ids, sum of user ids) compared, to find the courses concerned.

With Moodle's log as the change feed (``logfeed.py``), 1. and the big tables' part of 3. — the
reads that grow with the site — run only as the periodic safety net (``detect``); every run does
the rest (``detect_light``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import peewee

from models.moodle import CONTEXT_COURSE
from models.plugin import State, SyncFingerprint, SyncMember, SyncQueue

from .dialect import Dialect
from .rules import Tables

WATERMARK = "sync_watermark"


@dataclass(frozen=True)
class BigTable:
    """A large source table whose deletions are found through per-course fingerprints."""

    name: str
    # SQL (FROM … WHERE …) giving one row per source row with columns id, userid, courseid.
    source: str


def big_tables(t: Tables) -> list[BigTable]:
    return [
        BigTable(
            "user_enrolments",
            f"SELECT ue.id AS id, ue.userid AS userid, e.courseid AS courseid "
            f"FROM {t.user_enrolments} ue JOIN {t.enrol} e ON e.id = ue.enrolid",
        ),
        BigTable(
            "role_assignments",
            f"SELECT ra.id AS id, ra.userid AS userid, ctx.instanceid AS courseid "
            f"FROM {t.role_assignments} ra JOIN {t.context} ctx ON ctx.id = ra.contextid "
            f"AND ctx.contextlevel = {CONTEXT_COURSE}",
        ),
        BigTable(
            "course_modules_completion",
            f"SELECT cmc.id AS id, cmc.userid AS userid, cm.course AS courseid "
            f"FROM {t.cmc} cmc JOIN {t.course_modules} cm ON cm.id = cmc.coursemoduleid",
        ),
        BigTable(
            "course_completions",
            f"SELECT cc.id AS id, cc.userid AS userid, cc.course AS courseid FROM {t.course_completions} cc",
        ),
    ]


def _table_of(t: Tables, name: str) -> str:
    return {
        "user_enrolments": t.user_enrolments,
        "role_assignments": t.role_assignments,
        "course_modules_completion": t.cmc,
        "course_completions": t.course_completions,
    }[name]


@dataclass
class Detection:
    """What one detection found (for the run summary and tests)."""

    pairs: int = 0
    users: int = 0
    events: int = 0  # queue items named by Moodle's log (the log feed)
    courses: set[int] = field(default_factory=set)
    deletions_in: list[str] = field(default_factory=list)


class ChangeDetector:
    def __init__(self, db: peewee.Database, t: Tables, roles: list[str], overlap: int):
        self.db = db
        self.t = t
        self.d = Dialect(db)
        self.roles = roles
        self.overlap = overlap

    # -- small helpers -------------------------------------------------------------------
    def _rows(self, sql: str, params: Iterable = ()) -> list[tuple]:
        return list(self.db.execute_sql(sql, list(params)).fetchall())

    def _scalar(self, sql: str, params: Iterable = ()):
        row = self.db.execute_sql(sql, list(params)).fetchone()
        return row[0] if row else None

    def enqueue_select(self, kind: str, select_sql: str, params: Iterable = ()) -> int:
        queue = self.d.q(SyncQueue._meta.table_name)
        sql = self.d.insert_ignore(queue, "kind, a, b", select_sql)
        cursor = self.db.execute_sql(sql, [kind, *params])
        return max(cursor.rowcount or 0, 0)

    def enqueue_courses(self, courses: Iterable[int], companyid: int = 0) -> None:
        rows = [{"kind": "course", "a": c, "b": companyid} for c in sorted(set(courses))]
        for i in range(0, len(rows), 500):
            SyncQueue.insert_many(rows[i : i + 500]).on_conflict_ignore().execute()

    def _load_fps(self, kind: str) -> dict[int, str]:
        q = SyncFingerprint.select(SyncFingerprint.partition, SyncFingerprint.fingerprint).where(
            SyncFingerprint.kind == kind
        )
        return {p: f for p, f in q.tuples()}

    def _store_fps(self, kind: str, new: dict[int, str], old: dict[int, str]) -> None:
        gone = [p for p in old if p not in new]
        changed = [
            {"kind": kind, "partition": p, "fingerprint": f} for p, f in new.items() if old.get(p) != f
        ]
        for i in range(0, len(gone), 500):
            SyncFingerprint.delete().where(
                (SyncFingerprint.kind == kind) & SyncFingerprint.partition.in_(gone[i : i + 500])
            ).execute()
        replaced = [r["partition"] for r in changed if r["partition"] in old]
        for i in range(0, len(replaced), 500):
            SyncFingerprint.delete().where(
                (SyncFingerprint.kind == kind) & SyncFingerprint.partition.in_(replaced[i : i + 500])
            ).execute()
        for i in range(0, len(changed), 500):
            SyncFingerprint.insert_many(changed[i : i + 500]).execute()

    # -- fingerprints -------------------------------------------------------------------
    def course_fingerprints(self) -> dict[int, str]:
        """Per course: its row, its context id, its enrol instances, its tracked modules."""
        t = self.t
        fps: dict[int, list[str]] = {}
        for cid, category, visible, enablecompletion, fullname, ctxid in self._rows(
            f"SELECT c.id, c.category, c.visible, c.enablecompletion, c.fullname, ctx.id "
            f"FROM {t.course} c LEFT JOIN {t.context} ctx "
            f"ON ctx.contextlevel = {CONTEXT_COURSE} AND ctx.instanceid = c.id"
        ):
            digest = hashlib.sha1((fullname or "").encode()).hexdigest()[:12]
            fps[cid] = [f"{category}/{visible}/{enablecompletion}/{digest}/{ctxid}"]
        for cid, n, ids, enabled in self._rows(
            f"SELECT courseid, COUNT(*), SUM(id), SUM(CASE WHEN status = 0 THEN id ELSE 0 END) "
            f"FROM {t.enrol} GROUP BY courseid"
        ):
            fps.setdefault(cid, ["-"]).append(f"e{n}/{ids}/{enabled}")
        for cid, n, ids, tracked in self._rows(
            f"SELECT course, COUNT(*), SUM(id), "
            f"SUM(CASE WHEN completion > 0 AND deletioninprogress = 0 THEN id ELSE 0 END) "
            f"FROM {t.course_modules} GROUP BY course"
        ):
            fps.setdefault(cid, ["-"]).append(f"m{n}/{ids}/{tracked}")
        return {cid: "|".join(parts) for cid, parts in fps.items()}

    def course_sizes(self) -> dict[int, int]:
        """Enrolments per course, from the stored fingerprints: sizes batches without a query."""
        return {cid: int(fp.split("/")[0]) for cid, fp in self._load_fps("user_enrolments:c").items()}

    def roles_fingerprint(self) -> str:
        p = self.d.param
        ids = [
            r[0]
            for r in self._rows(
                f"SELECT id FROM {self.t.role} WHERE shortname IN ({', '.join([p] * len(self.roles))}) ORDER BY id",
                self.roles,
            )
        ]
        return ",".join(sorted(self.roles)) + "=" + ",".join(map(str, ids))

    def global_fingerprint(self, table: str) -> tuple[int, int]:
        # Two statements on purpose: alone, COUNT(*) reads the smallest index and MAX(id) one page;
        # together they make SQLite read the whole table.
        name = _table_of(self.t, table)
        count = self.db.execute_sql(f"SELECT COUNT(*) FROM {name}").fetchone()[0]
        max_id = self.db.execute_sql(f"SELECT MAX(id) FROM {name}").fetchone()[0]
        return int(count or 0), int(max_id or 0)

    def per_course_fingerprints(self, big: BigTable) -> dict[int, str]:
        # (count, sum of ids) per course: a deletion always changes it, even when an insert in the
        # same course keeps the count (ids are never reused). Both come from the course-side index
        # alone (the id is part of every index entry), so no table rows are read.
        return {
            cid: f"{n}/{ids}"
            for cid, n, ids in self._rows(
                f"SELECT src.courseid, COUNT(*), SUM(src.id) FROM ({big.source}) src GROUP BY src.courseid"
            )
        }

    # -- the baseline written by full syncs ---------------------------------------------
    def snapshot_all(self, now: int) -> list[int]:
        """Record every fingerprint and snapshot as of now; return every course id to recompute."""
        courses = self.course_fingerprints()
        self._store_fps("course", courses, self._load_fps("course"))
        self._store_fps("roles", {0: self.roles_fingerprint()}, self._load_fps("roles"))
        for big in big_tables(self.t):
            n, max_id = self.global_fingerprint(big.name)
            self._store_fps(big.name, {0: f"{n}/{max_id}"}, self._load_fps(big.name))
            self._store_fps(
                big.name + ":c", self.per_course_fingerprints(big), self._load_fps(big.name + ":c")
            )
        self._refresh_members()
        self._set_watermark(now)
        return sorted(courses)

    # -- incremental detection ----------------------------------------------------------
    def watermark(self) -> int | None:
        row = State.get_or_none(State.name == WATERMARK)
        return row.value_int if row else None

    def _set_watermark(self, now: int) -> None:
        State.put(WATERMARK, value_int=now, now=now)

    def detect(self, now: int) -> Detection:
        """The full detection: enqueue everything that may have changed since the last one.

        Without the log feed every incremental sync runs it; with the feed it is the safety net
        (every ``reconcile_hours``, and whenever the log cannot vouch for its events).
        """
        found = Detection()
        last = self.watermark() or 0
        since = max(last - self.overlap, 0)
        t, p = self.t, self.d.param
        self._detect_courses(found)

        # 3. Big tables: new ids and timestamps name pairs; lost rows name courses.
        for big in big_tables(t):
            old_global = self._load_fps(big.name).get(0, "0/0")
            old_n, old_max = (int(x) for x in old_global.split("/"))
            n, max_id = self.global_fingerprint(big.name)
            new_rows = self._scalar(
                f"SELECT COUNT(*) FROM {_table_of(t, big.name)} WHERE id > {p}", [old_max]
            )
            if n != old_n + (new_rows or 0):
                found.deletions_in.append(big.name)
                old_pc = self._load_fps(big.name + ":c")
                new_pc = self.per_course_fingerprints(big)
                found.courses |= {c for c in set(new_pc) | set(old_pc) if new_pc.get(c) != old_pc.get(c)}
                self._store_fps(big.name + ":c", new_pc, old_pc)
            elif new_rows:
                self._refresh_course_fps_after_inserts(big, old_max)
            self._store_fps(big.name, {0: f"{n}/{max_id}"}, {0: old_global})
            found.pairs += self._enqueue_pairs(big, since, last, now, old_max)

        # 4. Users: profile edits (timestamp) and membership/flag changes (snapshot diff).
        found.users += self.enqueue_select(
            "user", f"SELECT DISTINCT {p}, id, 0 FROM {t.user} WHERE timemodified > {p}", [since]
        )
        self._detect_members(found)
        if found.courses:
            self.enqueue_courses(found.courses)
        self._set_watermark(now)
        return found

    def detect_light(self, now: int, previous_run: int) -> Detection:
        """What the log feed cannot tell, found without reading the big tables' rows one by one.

        Reported roles, course-level settings (small tables, by fingerprint), company membership
        and user flags (snapshot diff) are compared exactly on every run; enrolments whose start or
        end date passed since the previous run leave no trace anywhere but their dates. The full
        detection's baseline (its watermark and the big tables' fingerprints) is left as it is, so
        the next full detection covers everything since the last one.
        """
        found = Detection()
        self._detect_courses(found)
        found.pairs += self._enqueue_dates_passing(previous_run, now)
        self._detect_members(found)
        if found.courses:
            self.enqueue_courses(found.courses)
        return found

    def _detect_courses(self, found: Detection) -> None:
        # 1. Reported roles changed: every course must be recomputed.
        old_roles = self._load_fps("roles")
        new_roles = {0: self.roles_fingerprint()}
        all_courses = old_roles.get(0) != new_roles[0]
        self._store_fps("roles", new_roles, old_roles)

        # 2. Small tables: per-course fingerprints.
        old_courses = self._load_fps("course")
        new_courses = self.course_fingerprints()
        if all_courses:
            found.courses |= set(new_courses) | set(old_courses)
        else:
            found.courses |= {
                c for c in set(new_courses) | set(old_courses) if new_courses.get(c) != old_courses.get(c)
            }
        self._store_fps("course", new_courses, old_courses)

    def _detect_members(self, found: Detection) -> None:
        found.users += self._enqueue_membership_changes()
        self._refresh_members()

    def _enqueue_dates_passing(self, since: int, now: int) -> int:
        """Pairs whose enrolment started or ended in (since, now]: no row changed, only the time."""
        t, p = self.t, self.d.param
        return self.enqueue_select(
            "pair",
            f"SELECT DISTINCT {p}, ue.userid, e.courseid FROM {t.user_enrolments} ue "
            f"{self.d.scan_join()} {t.enrol} e ON e.id = ue.enrolid "
            f"WHERE (ue.timestart > {p} AND ue.timestart <= {p}) OR (ue.timeend > {p} AND ue.timeend <= {p})",
            [since, now, since, now],
        )

    def _refresh_course_fps_after_inserts(self, big: BigTable, old_max: int) -> None:
        """Add the new rows (ids above the last maximum) to their courses' fingerprints.

        (count, sum of ids) is additive, so only the new rows are read — by primary-key range.
        Without this, a later deletion of those rows would compare equal to a stale fingerprint.
        """
        kind = big.name + ":c"
        deltas = self._rows(
            f"SELECT src.courseid, COUNT(*), SUM(src.id) FROM ({big.source}) src "
            f"WHERE src.id > {self.d.param} GROUP BY src.courseid",
            [old_max],
        )
        if not deltas:
            return
        old = self._load_fps(kind)
        new = dict(old)
        for cid, n, ids in deltas:
            n0, ids0 = (int(x) for x in old.get(cid, "0/0").split("/"))
            new[cid] = f"{n0 + n}/{ids0 + ids}"
        self._store_fps(kind, new, old)

    def _enqueue_pairs(self, big: BigTable, since: int, last: int, now: int, old_max: int) -> int:
        """Pairs named by new ids or timestamps of one big table (and enrolment dates passing)."""
        t, p = self.t, self.d.param
        if big.name == "user_enrolments":
            where = (
                f"ue.id > {p} OR ue.timemodified > {p} OR ue.timecreated > {p} "
                f"OR (ue.timestart > {p} AND ue.timestart <= {p}) OR (ue.timeend > {p} AND ue.timeend <= {p})"
            )
            params = [old_max, since, since, since, now, since, now]
            sql = (
                f"SELECT DISTINCT {p}, ue.userid, e.courseid FROM {t.user_enrolments} ue "
                f"{self.d.scan_join()} {t.enrol} e ON e.id = ue.enrolid WHERE {where}"
            )
        elif big.name == "role_assignments":
            # Moodle inserts and deletes role assignments but never edits them: new ids (a range
            # read) find the inserts, the fingerprints the deletions — no full scan needed. ">="
            # also catches SQLite reusing the id of a deleted last row.
            params = [old_max]
            sql = (
                f"SELECT DISTINCT {p}, ra.userid, ctx.instanceid FROM {t.role_assignments} ra "
                f"JOIN {t.context} ctx ON ctx.id = ra.contextid AND ctx.contextlevel = {CONTEXT_COURSE} "
                f"WHERE ra.id >= {p}"
            )
        elif big.name == "course_modules_completion":
            params = [old_max, since]
            sql = (
                f"SELECT DISTINCT {p}, cmc.userid, cm.course FROM {t.cmc} cmc "
                f"{self.d.scan_join()} {t.course_modules} cm ON cm.id = cmc.coursemoduleid "
                f"WHERE cmc.id > {p} OR cmc.timemodified > {p}"
            )
        else:
            params = [old_max, since, since, since]
            sql = (
                f"SELECT DISTINCT {p}, cc.userid, cc.course FROM {t.course_completions} cc "
                f"WHERE cc.id > {p} OR cc.timecompleted > {p} OR cc.timestarted > {p} OR cc.timeenrolled > {p}"
            )
        return self.enqueue_select("pair", sql, params)

    def _enqueue_membership_changes(self) -> int:
        t, p = self.t, self.d.param
        snap = self.d.q(SyncMember._meta.table_name)
        added = self.enqueue_select(
            "user",
            f"SELECT DISTINCT {p}, m.userid, 0 FROM {t.members} m "
            f"LEFT JOIN {snap} s ON s.companyid = m.companyid AND s.userid = m.userid "
            f"WHERE s.userid IS NULL",
        )
        removed = self.enqueue_select(
            "user",
            f"SELECT DISTINCT {p}, s.userid, 0 FROM {snap} s "
            f"LEFT JOIN {t.members} m ON m.companyid = s.companyid AND m.userid = s.userid "
            f"WHERE m.userid IS NULL",
        )
        return added + removed

    def _refresh_members(self) -> None:
        """Make the membership snapshot equal to the members work table (only the differences)."""
        t = self.t
        snap = self.d.q(SyncMember._meta.table_name)
        self.db.execute_sql(
            f"DELETE FROM {snap} WHERE NOT EXISTS (SELECT 1 FROM {t.members} m "
            f"WHERE m.companyid = {snap}.companyid AND m.userid = {snap}.userid)"
        )
        if self.d.name == "postgresql":
            # PostgreSQL plans the anti-join below against the table being filled as a nested loop
            # over its (growing, unanalysed) heap: quadratic, 27 s for 120,000 members on a first
            # sync. The primary key skips what is there already, in one index probe per row.
            self.db.execute_sql(
                self.d.insert_ignore(
                    snap, "companyid, userid", f"SELECT m.companyid, m.userid FROM {t.members} m"
                )
            )
            return
        self.db.execute_sql(
            f"INSERT INTO {snap} (companyid, userid) SELECT m.companyid, m.userid "
            f"FROM {t.members} m LEFT JOIN {snap} s ON s.companyid = m.companyid "
            f"AND s.userid = m.userid WHERE s.userid IS NULL"
        )
