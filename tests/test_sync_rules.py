"""Every rule of SPEC §3.2, each on a small handcrafted Moodle+IOMAD database, on every backend."""

from __future__ import annotations

import pytest

from .support.moodle_builder import EDITINGTEACHER, TEACHER, MoodleBuilder
from .support.sync_helpers import all_rows, live_rows, run_sync

NOW = 1_700_000_000


@pytest.fixture
def b(moodle):
    builder = moodle
    builder.now = NOW
    builder.company(1)
    builder.company(2)
    builder.course(10, modules=4)
    yield builder


def learner(b: MoodleBuilder, uid: int, course: int = 10, company: int = 1, **enrol) -> int:
    b.user(uid)
    b.member(company, uid)
    b.enrol(uid, course, **enrol)
    return uid


def test_basic_row_values(b):
    learner(b, 100)
    run_sync(b)
    rows = live_rows(b)
    assert rows == {
        (1, 100, 10): dict(
            firstname="First100",
            lastname="Last100",
            email="user100@example.com",
            username="user100",
            coursename="Course 10",
            timecompleted=0,
            timestarted=NOW - 86_400,
            percentage=0.0,
            status="not_started",
        )
    }


def test_user_in_two_companies_gets_a_row_per_company(b):
    learner(b, 100)
    b.member(2, 100)
    run_sync(b)
    assert set(live_rows(b)) == {(1, 100, 10), (2, 100, 10)}


def test_several_departments_in_one_company_give_one_row(b):
    learner(b, 100)
    b.member(1, 100, departmentid=999)
    b.member(1, 100, departmentid=998)
    run_sync(b)
    assert list(live_rows(b)) == [(1, 100, 10)]


def test_suspended_company_membership_excludes_only_that_company(b):
    learner(b, 100)
    b.member(2, 100, suspended=1)
    run_sync(b)
    assert list(live_rows(b)) == [(1, 100, 10)]


def test_suspended_in_one_department_but_active_in_another_still_counts(b):
    learner(b, 100)
    b.member(1, 100, suspended=1, departmentid=999)
    run_sync(b)
    assert list(live_rows(b)) == [(1, 100, 10)]


def test_company_level_suspension_does_not_matter(b):
    b.company(3, suspended=1)
    learner(b, 100, company=3)
    run_sync(b)
    assert list(live_rows(b)) == [(3, 100, 10)]


@pytest.mark.parametrize("flag", ["deleted", "suspended"])
def test_deleted_or_suspended_users_are_excluded(b, flag):
    b.user(100, **{flag: 1})
    b.member(1, 100)
    b.enrol(100, 10)
    learner(b, 101)
    run_sync(b)
    assert list(live_rows(b)) == [(1, 101, 10)]


def test_unconfirmed_or_other_auth_users_still_count(b):
    b.user(100)
    b.execute("UPDATE {t:user} SET confirmed = 0, auth = 'nologin' WHERE id = 100")
    b.member(1, 100)
    b.enrol(100, 10)
    run_sync(b)
    assert list(live_rows(b)) == [(1, 100, 10)]


def test_user_without_company_is_not_reported(b):
    b.user(100)
    b.enrol(100, 10)
    run_sync(b)
    assert live_rows(b) == {}


def test_suspended_enrolment_is_excluded(b):
    learner(b, 100, status=1)
    run_sync(b)
    assert live_rows(b) == {}


def test_disabled_enrol_instance_is_excluded(b):
    eid = b.enrol_instance(10, status=1)
    learner(b, 100, enrolid=eid)
    run_sync(b)
    assert live_rows(b) == {}


def test_future_start_and_past_end_are_excluded(b):
    learner(b, 100, timestart=NOW + 3600)
    learner(b, 101, timeend=NOW - 1)
    learner(b, 102, timeend=NOW)  # ends exactly now: no longer active
    learner(b, 103, timestart=NOW, timeend=NOW + 1)  # starts exactly now: active
    run_sync(b)
    assert list(live_rows(b)) == [(1, 103, 10)]


def test_two_enrolment_methods_give_one_row_and_the_earliest_start(b):
    eid = b.enrol_instance(10, method="self")
    learner(b, 100, timestart=NOW - 5000)
    b.enrol(100, 10, enrolid=eid, timestart=NOW - 9000, role=None)
    run_sync(b)
    rows = live_rows(b)
    assert list(rows) == [(1, 100, 10)]
    assert rows[(1, 100, 10)]["timestarted"] == NOW - 9000


def test_one_active_method_is_enough_when_the_other_is_suspended(b):
    eid = b.enrol_instance(10, method="self")
    learner(b, 100, status=1)
    b.enrol(100, 10, enrolid=eid, role=None)
    run_sync(b)
    assert list(live_rows(b)) == [(1, 100, 10)]


@pytest.mark.parametrize("role", [TEACHER, EDITINGTEACHER])
def test_teachers_are_not_reported_by_default(b, role):
    learner(b, 100, role=role)
    run_sync(b)
    assert live_rows(b) == {}


def test_report_roles_setting_adds_roles(b):
    learner(b, 100, role=TEACHER)
    run_sync(b, report_roles=["student", "teacher"])
    assert list(live_rows(b)) == [(1, 100, 10)]


def test_role_in_a_parent_context_does_not_count(b):
    learner(b, 100, role=None)
    b.assign(100, 10, contextid=1)  # student at system level
    run_sync(b)
    assert live_rows(b) == {}


def test_enrolled_without_any_role_is_not_reported(b):
    learner(b, 100, role=None)
    run_sync(b)
    assert live_rows(b) == {}


def test_hidden_course_is_excluded(b):
    b.course(11, visible=0)
    learner(b, 100, course=11)
    run_sync(b)
    assert live_rows(b) == {}


def test_site_course_is_excluded(b):
    b.insert("context", [dict(id=10_001, contextlevel=50, instanceid=1, path="/1/10001", depth=2)])
    b.insert("enrol", [dict(id=10, enrol="manual", status=0, courseid=1)])
    learner(b, 100, course=1)
    run_sync(b)
    assert live_rows(b) == {}


def test_course_not_in_company_course_is_still_in_the_table(b):
    b.course(11)
    learner(b, 100, course=11)
    run_sync(b)
    assert list(live_rows(b)) == [(1, 100, 11)]


def test_progress_counts_states_1_2_3_and_4_but_not_0(b):
    learner(b, 100)
    m = b.modules_of(10)
    for module, state in zip(m, (1, 2, 3, 0), strict=True):
        b.complete_module(100, module, state=state)
    learner(b, 101)
    b.complete_module(101, m[0], state=4)
    run_sync(b)
    rows = live_rows(b)
    assert (rows[(1, 100, 10)]["percentage"], rows[(1, 100, 10)]["status"]) == (75.0, "in_progress")
    assert (rows[(1, 101, 10)]["percentage"], rows[(1, 101, 10)]["status"]) == (25.0, "in_progress")


def test_percentage_rounds_to_two_decimals(b):
    b.course(11, modules=3)
    learner(b, 100, course=11)
    b.complete_module(100, b.modules_of(11)[0])
    run_sync(b)
    assert live_rows(b)[(1, 100, 11)]["percentage"] == 33.33


def test_untracked_and_deleting_modules_do_not_count(b):
    b.course(11, modules=2)
    untracked = b.module(11, completion=0)
    deleting = b.module(11, deletioninprogress=1)
    learner(b, 100, course=11)
    first = b.modules_of(11)[0]
    for module in (first, untracked, deleting):
        b.complete_module(100, module)
    run_sync(b)
    assert live_rows(b)[(1, 100, 11)]["percentage"] == 50.0


def test_all_tracked_activities_done_means_completed_at_the_last_one(b):
    b.course(11, modules=2)
    learner(b, 100, course=11)
    m = b.modules_of(11)
    b.complete_module(100, m[0], when=NOW - 500)
    b.complete_module(100, m[1], when=NOW - 200, state=2)
    run_sync(b)
    row = live_rows(b)[(1, 100, 11)]
    assert (row["status"], row["percentage"], row["timecompleted"]) == ("completed", 100.0, NOW - 200)


def test_course_completion_wins_with_its_own_times(b):
    learner(b, 100)
    b.complete_module(100, b.modules_of(10)[0])
    b.course_completion(100, 10, timecompleted=NOW - 100, timestarted=NOW - 7000)
    run_sync(b)
    row = live_rows(b)[(1, 100, 10)]
    assert row == {
        **row,
        "status": "completed",
        "percentage": 100.0,
        "timecompleted": NOW - 100,
        "timestarted": NOW - 7000,
    }


def test_course_completion_row_without_timecompleted_is_not_completion(b):
    learner(b, 100)
    b.course_completion(100, 10, timecompleted=None, timestarted=0)
    run_sync(b)
    row = live_rows(b)[(1, 100, 10)]
    assert (row["status"], row["timecompleted"], row["timestarted"]) == ("not_started", 0, NOW - 86_400)


def test_course_without_tracked_activities(b):
    b.course(11)
    learner(b, 100, course=11)
    run_sync(b)
    row = live_rows(b)[(1, 100, 11)]
    assert (row["percentage"], row["status"]) == (0.0, "not_started")


def test_completion_disabled_course_ignores_activity_completions(b):
    b.course(11, modules=2, enablecompletion=0)
    learner(b, 100, course=11)
    for m in b.modules_of(11):
        b.complete_module(100, m)
    run_sync(b)
    row = live_rows(b)[(1, 100, 11)]
    assert (row["percentage"], row["status"], row["timecompleted"]) == (0.0, "not_started", 0)


def test_timestarted_falls_back_to_enrolment_creation_then_zero(b):
    learner(b, 100, timestart=0, timecreated=NOW - 50)
    learner(b, 101, timestart=0, timecreated=0)
    run_sync(b)
    rows = live_rows(b)
    assert rows[(1, 100, 10)]["timestarted"] == NOW - 50
    assert rows[(1, 101, 10)]["timestarted"] == 0


def test_rows_that_stop_qualifying_are_tombstoned_and_revived(b):
    learner(b, 100)
    run_sync(b)
    b.execute("UPDATE {t:user_enrolments} SET status = 1 WHERE userid = 100")
    run_sync(b, full=True)
    rows = all_rows(b)
    assert rows[(1, 100, 10)]["is_deleted"] == 1
    assert rows[(1, 100, 10)]["firstname"] == "First100"  # last values kept
    b.execute("UPDATE {t:user_enrolments} SET status = 0 WHERE userid = 100")
    b.execute("UPDATE {t:user} SET firstname = 'Renamed' WHERE id = 100")
    run_sync(b, full=True)
    row = all_rows(b)[(1, 100, 10)]
    assert (row["is_deleted"], row["firstname"]) == (0, "Renamed")


def test_unchanged_rows_are_not_rewritten(b):
    learner(b, 100)
    learner(b, 101)
    first = run_sync(b)
    before = all_rows(b)
    b.now += 3600
    again = run_sync(b, full=True)
    assert (first.created, again.created, again.updated, again.deleted, again.unchanged) == (2, 0, 0, 0, 2)
    assert all_rows(b) == before


def test_names_differing_only_in_case_or_accents_are_a_change(b):
    b.user(100, first="jose")
    b.member(1, 100)
    b.enrol(100, 10)
    run_sync(b)
    b.execute("UPDATE {t:user} SET firstname = ? WHERE id = 100", ["José"])
    result = run_sync(b, full=True)
    assert result.updated == 1
    assert live_rows(b)[(1, 100, 10)]["firstname"] == "José"


def test_four_byte_characters_survive(b):
    b.user(100, first="Zoë 🎓", last="李")
    b.member(1, 100)
    b.enrol(100, 10)
    run_sync(b)
    row = live_rows(b)[(1, 100, 10)]
    assert (row["firstname"], row["lastname"]) == ("Zoë 🎓", "李")
