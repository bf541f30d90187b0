"""Moodle's log as the change feed of incremental syncs (#15): what it finds, what it leaves to the
cheap comparisons of every run, and when it steps aside for the full detection (the safety net).

The property test over arbitrary changes, with the feed on and off, is in test_sync_incremental.py.
"""

from __future__ import annotations

import pytest

from models.plugin import State, SyncFingerprint

from .support.cli_helpers import Alx
from .support.moodle_builder import MoodleBuilder
from .support.sql_spy import statements
from .support.sync_helpers import all_rows, live_rows, run_sync, three_learners_in_two_courses

NOW = 1_700_000_000
HOURS = 3600
LOG_RUN = {"reconcile_hours": 6}  # the product's default; the tests stay well inside it


@pytest.fixture
def b(moodle):
    builder = moodle
    builder.now = NOW
    builder.enable_log()
    three_learners_in_two_courses(builder, companies=(1,))
    builder.event("user_enrolment_created", relateduserid=102, courseid=11)  # the log is not empty
    first = run_sync(builder)
    assert (first.mode, first.detection, first.created) == ("full", "full sync", 6)
    builder.now += 600
    yield builder


def log_run(b: MoodleBuilder, **options):
    result = run_sync(b, **{**LOG_RUN, **options})
    assert (result.mode, result.detection) == ("incremental", "log"), result
    return result


def assert_complete(b: MoodleBuilder) -> None:
    before = all_rows(b)
    full = run_sync(b, full=True)
    assert (full.created, full.updated, full.deleted) == (0, 0, 0)
    assert all_rows(b) == before


def test_a_change_known_only_from_its_event(b):
    """A transaction that began long before the last run commits after it: its timestamp is
    older than the scan looks, its event is after the log position."""
    row = b.complete_module(100, b.modules_of(10)[0], state=0, when=NOW - 6 * HOURS)
    run_sync(b, full=True)
    b.now += 600
    b.execute("UPDATE {t:course_modules_completion} SET completionstate = 1 WHERE id = ?", [row])
    # Its timestamp is hours before the last full detection (its watermark): no scan looks there.
    assert State.get(State.name == "sync_watermark").value_int - 600 > NOW - 6 * HOURS
    b.event("course_module_completion_updated", relateduserid=100, courseid=10, contextlevel=70)
    result = log_run(b)
    assert (result.created, result.updated, result.deleted) == (0, 1, 0)
    assert live_rows(b)[(1, 100, 10)]["percentage"] == 50.0
    assert_complete(b)


def test_every_kind_of_event_is_read(b):
    b.execute("DELETE FROM {t:user_enrolments} WHERE userid = 100 AND enrolid = 100")
    b.event("user_enrolment_deleted", relateduserid=100, courseid=10)
    b.execute("DELETE FROM {t:role_assignments} WHERE userid = 101 AND contextid = 10011")
    b.event("role_unassigned", relateduserid=101, courseid=11)
    b.execute("UPDATE {t:user} SET lastname = 'Hopper' WHERE id = 102")  # no timemodified
    b.event("user_updated", relateduserid=102, contextlevel=30, contextinstanceid=102)
    result = log_run(b)
    assert (result.updated, result.deleted) == (2, 2)
    assert {k for k in live_rows(b)} == {(1, 100, 11), (1, 101, 10), (1, 102, 10), (1, 102, 11)}
    assert {v["lastname"] for k, v in live_rows(b).items() if k[1] == 102} == {"Hopper"}

    b.now += 600  # a course reset: one event for the course, no event per learner
    b.complete_module(101, b.modules_of(10)[0], when=b.now - 10)
    b.event("course_module_completion_updated", relateduserid=101, courseid=10, contextlevel=70)
    log_run(b)
    b.now += 600
    b.execute("DELETE FROM {t:course_modules_completion}")
    b.event("course_reset_ended", courseid=10)
    log_run(b)
    assert live_rows(b)[(1, 101, 10)]["percentage"] == 0.0
    assert_complete(b)


def test_what_the_log_does_not_say_is_compared_every_run(b):
    """Membership, user flags, course settings and passing dates: no event needed."""
    b.execute("DELETE FROM {t:company_users} WHERE userid = 100")
    b.execute("UPDATE {t:user} SET suspended = 1 WHERE id = 101")
    b.execute("UPDATE {t:course} SET fullname = 'Renamed' WHERE id = 11")
    b.user(103)
    b.member(1, 103)
    b.enrol(103, 10, timestart=b.now + 1000, timeend=b.now + 5000, timecreated=NOW - 10 * HOURS)
    result = log_run(b)
    assert result.deleted == 4
    assert live_rows(b)[(1, 102, 11)]["coursename"] == "Renamed"
    assert (1, 103, 10) not in live_rows(b)
    b.now += 2000  # the start date passed: nothing in Moodle changed, nothing was logged
    assert log_run(b).created == 1
    b.now += 4000  # the end date passed
    assert log_run(b).deleted == 1
    assert_complete(b)


def test_a_log_run_does_not_read_the_big_tables(b):
    """Nothing happened: the run reads the log, the small tables and the dates, nothing else."""
    fingerprints = sorted(SyncFingerprint.select().tuples())
    with statements(b.db) as seen:
        result = log_run(b)
    assert (result.created, result.updated, result.deleted, result.unchanged) == (0, 0, 0, 0)
    seen = [s for s in seen if "WHERE 1 = 0" not in s]  # the check that the sources are readable
    for table in ("course_modules_completion", "course_completions", "role_assignments"):
        assert not [s for s in seen if f"mdl_{table}" in s], table
    # user_enrolments only for the dates that passed (one statement).
    assert len([s for s in seen if "mdl_user_enrolments" in s]) == 1
    assert sorted(SyncFingerprint.select().tuples()) == fingerprints  # the full detection's baseline


def test_the_safety_net_finds_a_change_without_event_or_timestamp_rule(b):
    """A script changed a completion behind Moodle's back: no event. The next full detection
    (every reconcile_hours) finds it by its timestamp."""
    b.complete_module(100, b.modules_of(10)[0], when=b.now - 10)
    assert log_run(b).updated == 0
    b.now += 6 * HOURS
    result = run_sync(b, **LOG_RUN)
    assert result.detection == "full detection: the safety net, every 6 h"
    assert result.updated == 1
    assert log_run(b, reconcile_hours=6).updated == 0  # and the feed takes over again
    assert_complete(b)


def test_a_disabled_log_store_means_the_full_detection(b):
    b.enable_log("logstore_database")
    b.complete_module(100, b.modules_of(10)[0], when=b.now - 10)
    result = run_sync(b, **LOG_RUN)
    assert result.detection == "full detection: logstore_standard is not enabled"
    assert result.updated == 1
    off = run_sync(b, log_feed=False)
    assert off.detection == "full detection: the log feed is off"
    # Turned on again, the feed starts from the end of the log, not from its old position.
    b.enable_log()
    b.event("user_updated", relateduserid=100, contextlevel=30, contextinstanceid=100)
    again = run_sync(b, **LOG_RUN)
    assert again.detection == "full detection: the log feed has no watermark yet"
    assert log_run(b).unchanged == 0


def test_retention_past_the_watermark_means_the_full_detection(b):
    b.execute("DELETE FROM {t:logstore_standard_log}")  # Moodle's log cleanup, or a truncated table
    b.event("course_module_completion_updated", relateduserid=101, courseid=10, contextlevel=70, eid=1)
    b.complete_module(100, b.modules_of(10)[0], when=b.now - 10)  # no event of it survived
    result = run_sync(b, **LOG_RUN)
    assert result.detection.startswith("full detection: the event at the watermark (id 1) is gone")
    assert result.updated == 1
    log_run(b)
    assert_complete(b)


def _watermark() -> int:
    return State.get(State.name == "log_watermark").value_int


def test_a_missing_id_is_waited_for_then_read(b):
    """PostgreSQL and MariaDB hand out ids before commit: id N+1 may appear after N+2."""
    start = _watermark()
    b.complete_module(100, b.modules_of(10)[0], when=b.now - 10)
    b.event(
        "course_module_completion_updated", relateduserid=100, courseid=10, contextlevel=70, eid=start + 2
    )
    assert log_run(b, overlap_seconds=300).updated == 1
    assert _watermark() == start  # not past the missing id
    b.now += 60
    # The transaction holding id N+1 commits now, its change older than the run above.
    b.complete_module(101, b.modules_of(11)[0], when=b.now - 200)
    b.event(
        "course_module_completion_updated", relateduserid=101, courseid=11, contextlevel=70,
        eid=start + 1, when=b.now - 200,
    )  # fmt: skip
    result = log_run(b, overlap_seconds=300)
    assert (result.updated, result.unchanged) == (1, 1)  # and N+2's pair again, unchanged
    assert _watermark() == start + 2
    assert_complete(b)


def test_an_id_missing_for_longer_than_the_grace_means_the_full_detection(b):
    start = _watermark()
    b.event("user_updated", relateduserid=100, contextlevel=30, contextinstanceid=100, eid=start + 2)
    b.now += 301
    result = run_sync(b, overlap_seconds=300, **LOG_RUN)
    assert result.detection == (
        f"full detection: log ids {start + 1}..{start + 1} are missing for more than 300s "
        "(a rolled-back or deleted event cannot be read)"
    )
    assert _watermark() == start + 2
    log_run(b, overlap_seconds=300)


def test_alx_check_reports_the_change_feed(b, db_url, tmp_path):
    alx = Alx(tmp_path / "work", db_url)
    report = alx.json("check", "--json")
    assert report["change_feed"] == {
        "log": True,
        "detail": "Moodle's standard log (logstore_standard is enabled)",
    }
    assert "change feed of incremental syncs: Moodle's standard log" in alx.ok("check").stdout
    synced = alx.ok("sync", env={"ALX_NOW": str(b.now)})
    assert "incremental sync success" in synced.stderr and "changes read from Moodle's log" in synced.stderr
    off = alx.json("check", "--json", env={"ALX_SYNC_LOG_FEED": "false"})["change_feed"]
    assert off["log"] is False and "sync_log_feed = false" in off["detail"]
    b.enable_log("logstore_database")
    disabled = alx.json("check", "--json")["change_feed"]
    assert disabled["log"] is False and "logstore_standard is not enabled; enable it" in disabled["detail"]
