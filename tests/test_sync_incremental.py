"""Incremental syncs: every kind of change is found, including those that leave no timestamp.

The strongest check is the last line of most tests: after the incremental run, a full sync finds
nothing left to change (``assert_complete``) — incremental lost nothing.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.db import quote

from .support.moodle_builder import TEACHER, MoodleBuilder
from .support.sync_helpers import all_rows, live_rows, run_sync, three_learners_in_two_courses

NOW = 1_700_000_000


@pytest.fixture
def b(moodle):
    builder = moodle
    builder.now = NOW
    three_learners_in_two_courses(builder, companies=(1, 2))
    first = run_sync(builder)
    assert (first.mode, first.created) == ("full", 6)
    builder.now += 600
    yield builder


def incremental(b: MoodleBuilder, **kw):
    result = run_sync(b, **kw)
    assert result.mode == "incremental"
    return result


def assert_complete(b: MoodleBuilder, **options) -> None:
    """A full sync right after finds nothing: the incremental run applied every change."""
    before = all_rows(b)
    full = run_sync(b, full=True, **options)
    assert (full.created, full.updated, full.deleted) == (0, 0, 0)
    assert all_rows(b) == before


def seqs(b):
    return {k: v["change_seq"] for k, v in all_rows(b).items()}


def test_nothing_changed_writes_nothing(b):
    before = all_rows(b)
    result = incremental(b)
    assert (result.created, result.updated, result.deleted) == (0, 0, 0)
    assert all_rows(b) == before


def test_new_activity_completion_updates_only_that_row(b):
    before = seqs(b)
    b.complete_module(100, b.modules_of(10)[0], when=b.now - 10)
    result = incremental(b)
    assert (result.created, result.updated, result.deleted) == (0, 1, 0)
    after = seqs(b)
    assert after[(1, 100, 10)] > before[(1, 100, 10)]
    assert {k: v for k, v in after.items() if k != (1, 100, 10)} == {
        k: v for k, v in before.items() if k != (1, 100, 10)
    }
    assert live_rows(b)[(1, 100, 10)]["percentage"] == 50.0
    assert_complete(b)


def test_completion_undone_with_a_timestamp(b):
    rid = b.complete_module(100, b.modules_of(10)[0], when=b.now - 10)
    incremental(b)
    b.now += 600
    b.execute(
        "UPDATE {t:course_modules_completion} SET completionstate = 0, timemodified = ? WHERE id = ?",
        [b.now - 5, rid],
    )
    incremental(b)
    assert live_rows(b)[(1, 100, 10)]["percentage"] == 0.0
    assert_complete(b)


def test_unenrolment_tombstones(b):
    b.execute("DELETE FROM {t:user_enrolments} WHERE userid = 100 AND enrolid = 100")
    b.execute("DELETE FROM {t:role_assignments} WHERE userid = 100 AND contextid = 10010")
    result = incremental(b)
    assert result.deleted == 1
    assert all_rows(b)[(1, 100, 10)]["is_deleted"] == 1
    assert_complete(b)


def test_unenrolling_a_whole_course(b):
    b.execute("DELETE FROM {t:user_enrolments} WHERE enrolid = 110")
    result = incremental(b)
    assert result.deleted == 3
    assert set(live_rows(b)) == {(1, u, 10) for u in (100, 101, 102)}
    assert_complete(b)


def test_role_removed_and_added_without_timestamps(b):
    b.execute("DELETE FROM {t:role_assignments} WHERE userid = 101 AND contextid = 10011")
    assert incremental(b).deleted == 1
    b.now += 600
    b.execute(
        "INSERT INTO {t:role_assignments} (roleid, contextid, userid, timemodified, modifierid, component, "
        "itemid, sortorder) VALUES (5, 10011, 101, 0, 0, '', 0, 0)"
    )
    assert incremental(b).updated == 1  # revived
    assert (1, 101, 11) in live_rows(b)
    assert_complete(b)


def test_joining_and_leaving_companies(b):
    b.member(2, 102)
    assert incremental(b).created == 2
    b.now += 600
    b.execute("DELETE FROM {t:company_users} WHERE companyid = 1 AND userid = 102")
    assert incremental(b).deleted == 2
    assert set(k for k in live_rows(b) if k[1] == 102) == {(2, 102, 10), (2, 102, 11)}
    assert_complete(b)


def test_company_suspension_flag_flip(b):
    b.execute("UPDATE {t:company_users} SET suspended = 1 WHERE userid = 100")
    assert incremental(b).deleted == 2
    b.now += 600
    b.execute("UPDATE {t:company_users} SET suspended = 0 WHERE userid = 100")
    assert incremental(b).updated == 2
    assert_complete(b)


def test_user_suspended_without_timemodified(b):
    b.execute("UPDATE {t:user} SET suspended = 1 WHERE id = 101")
    assert incremental(b).deleted == 2
    assert_complete(b)


def test_profile_edit_with_timemodified(b):
    b.execute("UPDATE {t:user} SET lastname = 'Lovelace', timemodified = ? WHERE id = 101", [b.now - 1])
    assert incremental(b).updated == 2
    assert_complete(b)


def test_enrolment_method_reenabled(b):
    eid = b.enrol_instance(10, method="self", status=1)
    b.user(103)
    b.member(1, 103)
    b.enrol(103, 10, enrolid=eid)
    incremental(b)
    assert (1, 103, 10) not in live_rows(b)
    b.now += 600
    b.execute("UPDATE {t:enrol} SET status = 0 WHERE id = ?", [eid])
    assert incremental(b).created == 1
    assert_complete(b)


def test_future_start_arrives_and_end_passes(b):
    b.user(103)
    b.member(1, 103)
    b.enrol(103, 10, timestart=b.now + 1000, timeend=b.now + 5000)
    incremental(b)
    assert (1, 103, 10) not in live_rows(b)
    b.now += 2000  # start date passed, no row changed in Moodle
    assert incremental(b).created == 1
    b.now += 4000  # end date passed
    assert incremental(b).deleted == 1
    assert_complete(b)


def test_course_hidden_renamed_and_shown_again(b):
    b.execute("UPDATE {t:course} SET visible = 0 WHERE id = 11")
    assert incremental(b).deleted == 3
    b.now += 600
    b.execute("UPDATE {t:course} SET visible = 1, fullname = 'Renamed' WHERE id = 11")
    assert incremental(b).updated == 3
    assert {v["coursename"] for k, v in live_rows(b).items() if k[2] == 11} == {"Renamed"}
    assert_complete(b)


def test_module_added_changes_percentages(b):
    b.complete_module(100, b.modules_of(10)[0], when=b.now - 10)
    incremental(b)
    b.now += 600
    b.module(10)
    incremental(b)
    assert live_rows(b)[(1, 100, 10)]["percentage"] == 33.33
    assert_complete(b)


def test_course_reset_deletes_completions(b):
    for m in b.modules_of(10):
        b.complete_module(100, m, when=b.now - 10)
    b.course_completion(100, 10, timecompleted=b.now - 5)
    incremental(b)
    assert live_rows(b)[(1, 100, 10)]["status"] == "completed"
    b.now += 600
    b.execute("DELETE FROM {t:course_modules_completion}")
    b.execute("DELETE FROM {t:course_completions}")
    incremental(b)
    assert live_rows(b)[(1, 100, 10)]["status"] == "not_started"
    assert_complete(b)


def test_delete_then_insert_reusing_the_count(b):
    """A deletion hidden by an insert elsewhere (same count) is still found."""
    b.execute("DELETE FROM {t:user_enrolments} WHERE userid = 102 AND enrolid = 110")
    b.user(104)
    b.member(1, 104)
    b.enrol(104, 10, timecreated=0)
    b.execute("UPDATE {t:user_enrolments} SET timemodified = 0 WHERE userid = 104")
    result = incremental(b)
    assert (result.created, result.deleted) == (1, 1)
    assert_complete(b)


def test_reported_roles_change_recomputes_everything(b):
    b.user(105)
    b.member(1, 105)
    b.enrol(105, 10, role=TEACHER)
    incremental(b)
    assert (1, 105, 10) not in live_rows(b)
    result = incremental(b, report_roles=["student", "teacher"])
    assert result.created == 1
    assert_complete(b, report_roles=["student", "teacher"])


def _isolation(b: MoodleBuilder, backend: str) -> str:
    sql = "SELECT @@SESSION.tx_isolation" if backend == "mariadb" else "SHOW transaction_isolation"
    return str(b.db.execute_sql(sql).fetchone()[0]).upper().replace(" ", "-")


def test_the_sync_reads_without_row_locks_and_restores_the_session(b, db_backend, db_server):
    """MariaDB: READ COMMITTED while syncing (INSERT … SELECT would otherwise lock every row it
    reads, Moodle's included), the connection's own level afterwards; PostgreSQL: untouched."""
    from alxapi.reporting.dialect import Dialect

    before = _isolation(b, db_backend)
    with Dialect(b.db).reads_without_locks():
        during = _isolation(b, db_backend)
    assert during == ("READ-COMMITTED" if db_backend == "mariadb" else before)
    incremental(b)
    assert _isolation(b, db_backend) == before


def test_a_large_sync_refreshes_the_planner_statistics(b, db_backend, db_server, monkeypatch):
    """PostgreSQL: ANALYZE of the reporting table after a run that wrote at least
    ANALYZE_AFTER_ROWS rows (lowered here), not after a smaller one; MariaDB keeps its own."""
    from alxapi.reporting import sync

    from .support.sql_spy import statements

    monkeypatch.setattr(sync, "ANALYZE_AFTER_ROWS", 2)
    b.complete_module(100, b.modules_of(10)[0], when=b.now - 10)
    with statements(b.db) as small:
        assert incremental(b).updated == 1
    b.now += 600
    b.execute("UPDATE {t:course} SET fullname = 'Renamed' WHERE id = 10")
    with statements(b.db) as large:
        assert incremental(b).updated == 3
    analyzed = [s for s in large if s.startswith("ANALYZE") and "local_alx_api_reporting" in s]
    assert len(analyzed) == (1 if db_backend == "postgresql" else 0)
    assert not [s for s in small if s.startswith("ANALYZE") and "local_alx_api_reporting" in s]


# --- property: no lost changes ------------------------------------------------------------------

MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "complete",
                "uncomplete",
                "unenrol",
                "enrol",
                "suspend_user",
                "unsuspend_user",
                "leave_company",
                "join_company",
                "hide_course",
                "show_course",
                "unassign",
                "advance",
            ]
        ),
        st.integers(100, 103),
        st.sampled_from([10, 11]),
    ),
    min_size=1,
    max_size=8,
)


def _mutate(b: MoodleBuilder, op: str, uid: int, course: int) -> None:
    """Change the sources as Moodle would, with the log events Moodle writes for the change.

    Joining or leaving an IOMAD company writes no core event: the membership snapshot finds it.
    """
    if op == "complete":
        b.execute(
            "DELETE FROM {t:course_modules_completion} WHERE userid = ? AND coursemoduleid = ?",
            [uid, b.modules_of(course)[0]],
        )
        b.complete_module(uid, b.modules_of(course)[0], when=b.now - 1)
        b.event("course_module_completion_updated", relateduserid=uid, courseid=course, contextlevel=70)
    elif op == "uncomplete":
        b.execute("DELETE FROM {t:course_modules_completion} WHERE userid = ?", [uid])
        for other in (10, 11):
            b.event("course_module_completion_updated", relateduserid=uid, courseid=other, contextlevel=70)
    elif op == "unenrol":
        b.execute("DELETE FROM {t:user_enrolments} WHERE userid = ? AND enrolid = ?", [uid, course * 10])
        b.event("user_enrolment_deleted", relateduserid=uid, courseid=course)
    elif op == "enrol":
        b.execute("DELETE FROM {t:user_enrolments} WHERE userid = ? AND enrolid = ?", [uid, course * 10])
        b.enrol(uid, course, role=None, timecreated=b.now - 1)
        b.event("user_enrolment_created", relateduserid=uid, courseid=course)
    elif op in ("suspend_user", "unsuspend_user"):
        b.execute("UPDATE {t:user} SET suspended = ? WHERE id = ?", [int(op == "suspend_user"), uid])
        b.event("user_updated", relateduserid=uid, contextlevel=30, contextinstanceid=uid)
    elif op == "leave_company":
        b.execute("DELETE FROM {t:company_users} WHERE userid = ?", [uid])
    elif op == "join_company":
        b.execute("DELETE FROM {t:company_users} WHERE userid = ? AND companyid = ?", [uid, 1 + uid % 2])
        b.member(1 + uid % 2, uid)
    elif op in ("hide_course", "show_course"):
        b.execute("UPDATE {t:course} SET visible = ? WHERE id = ?", [int(op == "show_course"), course])
        b.event("course_updated", courseid=course)
    elif op == "unassign":
        b.execute(
            "DELETE FROM {t:role_assignments} WHERE userid = ? AND contextid = ?", [uid, 10_000 + course]
        )
        b.event("role_unassigned", relateduserid=uid, courseid=course)
    elif op == "advance":
        b.now += 3600


@pytest.mark.parametrize("log_feed", [False, True], ids=["tables", "log"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(MUTATIONS, min_size=1, max_size=3))
def test_incremental_never_loses_a_change(b, log_feed, steps):
    # The fixture's database is shared by every example: each starts from where the last ended,
    # which only widens the states explored; the invariant must hold from any of them.
    if not _exists(b, 103):
        b.user(103)
        if log_feed:
            b.enable_log()
            run_sync(b, full=True)  # the feed starts from the log's position at a full sync
    # The safety net never runs here: with the feed on, the log alone must find every change.
    options = {"log_feed": log_feed, "reconcile_hours": 100_000}
    for mutations in steps:
        for op, uid, course in mutations:
            _mutate(b, op, uid, course)
        b.now += 60
        result = run_sync(b, **options)
        assert result.detection == ("log" if log_feed else "full detection: the log feed is off")
        assert_complete(b)


def _exists(b: MoodleBuilder, uid: int) -> bool:
    return bool(
        b.db.execute_sql(
            f"SELECT COUNT(*) FROM {quote('mdl_user', b.db)} WHERE id = {b.db.param}", [uid]
        ).fetchone()[0]
    )
