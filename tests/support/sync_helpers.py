"""Shared helpers for sync tests: run the engine, read the reporting table."""

from __future__ import annotations

from alxapi.reporting.sync import SyncEngine, SyncOptions, SyncResult
from models.plugin import Reporting

from .moodle_builder import MoodleBuilder


def run_sync(b: MoodleBuilder, **options) -> SyncResult:
    opts = SyncOptions(**{"overlap_seconds": 0, **options})
    return SyncEngine(b.db, opts, clock=lambda: b.now).run()


def three_learners_in_two_courses(b: MoodleBuilder, companies: tuple[int, ...]) -> None:
    """Learners 100-102 of company 1, each enrolled as a student in courses 10 and 11 (two
    tracked activities each); the other ``companies`` exist without members."""
    for company in companies:
        b.company(company)
    b.course(10, modules=2)
    b.course(11, modules=2)
    for uid in (100, 101, 102):
        b.user(uid)
        b.member(1, uid)
        b.enrol(uid, 10)
        b.enrol(uid, 11)


def live_rows(b: MoodleBuilder) -> dict[tuple[int, int, int], dict]:
    """Live (not tombstoned) reporting rows keyed by (company, user, course)."""
    return {
        (r.companyid, r.userid, r.courseid): _values(r)
        for r in Reporting.select().where(Reporting.is_deleted == 0)
    }


def all_rows(b: MoodleBuilder) -> dict[tuple[int, int, int], dict]:
    return {
        (r.companyid, r.userid, r.courseid): {
            **_values(r),
            "is_deleted": r.is_deleted,
            "change_seq": r.change_seq,
            "last_updated": r.last_updated,
        }
        for r in Reporting.select()
    }


def _values(r: Reporting) -> dict:
    return dict(
        firstname=r.firstname,
        lastname=r.lastname,
        email=r.email,
        username=r.username,
        coursename=r.coursename,
        timecompleted=int(r.timecompleted),
        timestarted=int(r.timestarted),
        percentage=float(r.percentage),
        status=r.status,
    )
