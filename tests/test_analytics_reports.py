"""Engagement, at-risk (SPEC §8.3) and the built-in reports (§8.4): hand-computed cases on every
backend. Reporting rows, daily rows and last accesses are written directly, so each number below can
be checked against the SPEC by hand."""

from __future__ import annotations

import pytest

from alxapi.analytics.engagement import Rules, round2, score
from alxapi.analytics.reports import REPORTS, ReportError, RunContext, after, get_report, months
from alxapi.config import load_config
from models.analytics import UserTimeDaily
from models.plugin import Reporting

DAY = 86_400
HOUR = 3600
# 2026-03-31 10:00 UTC = 12:00 in Berlin (CEST since the 29th): today is 2026-03-31, the 30-day window
# starts on 2026-03-02.
NOW = 1_774_951_200
ZONE = "Europe/Berlin"


def config(**flags):
    return load_config(flags={"timezone": ZONE, **flags}, env={}, search_paths=[])


def ctx(companyid=1, **flags) -> RunContext:
    return RunContext(companyid, NOW, config(**flags))


def row(
    companyid,
    userid,
    courseid,
    *,
    status="in_progress",
    pct=0,
    started=NOW - 60 * DAY,
    completed=0,
    deleted=0,
):
    Reporting.create(
        companyid=companyid,
        userid=userid,
        courseid=courseid,
        firstname=f"F{userid}",
        lastname=f"L{userid}",
        email=f"u{userid}@example.com",
        username=f"u{userid}",
        coursename=f"Course {courseid}",
        status=status,
        percentage=pct,
        timestarted=started,
        timecompleted=completed,
        is_deleted=deleted,
    )


def day(userid, courseid, date, duration=0, sessions=1, events=1, interactions=0):
    UserTimeDaily.create(
        userid=userid,
        courseid=courseid,
        date=date,
        duration=duration,
        sessions=sessions,
        events=events,
        interactions=interactions,
        lastupdated=NOW,
    )


def access(moodle, userid, courseid, when):
    moodle.insert(
        "user_lastaccess", [dict(id=moodle.next_id(), userid=userid, courseid=courseid, timeaccess=when)]
    )


def by_user(rows):
    names = get_report("engagement").column_names
    return {(r[1], r[2]): dict(zip(names, r, strict=True)) for r in rows}


# --- the score, by hand ---------------------------------------------------------------------------


def test_round2_rounds_half_up_as_printed():
    assert (round2(29.995), round2(0.125), round2(30.004999)) == (30.0, 0.13, 30.0)


def test_score_by_hand():
    rules = Rules()
    common = dict(status="in_progress", timestarted=NOW - 60 * DAY, now=NOW)
    # 3 h of 10 (0.3), 3 days of 12 (0.25), 40 % (0.4), 5 of 20 interactions (0.25):
    # 100 * (0.3*0.3 + 0.2*0.25 + 0.3*0.4 + 0.2*0.25) = 31.0
    s = score(
        rules,
        time_spent=3 * HOUR,
        active_days=3,
        interactions=5,
        completion=40.0,
        days_since_access=20,
        **common,
    )
    assert (s.engagement, s.risk_score, s.at_risk, s.reasons) == (
        31.0,
        50,
        True,
        ("inactive", "low_completion"),
    )
    # Everything capped at 1: 100; nothing fires.
    s = score(
        rules,
        time_spent=99 * HOUR,
        active_days=30,
        interactions=99,
        completion=100.0,
        days_since_access=0,
        **common,
    )
    assert (s.engagement, s.risk_score, s.reasons) == (100.0, 0, ())
    # Nothing at all, never accessed: every reason, 100.
    s = score(
        rules, time_spent=0, active_days=0, interactions=0, completion=0.0, days_since_access=None, **common
    )
    assert (s.engagement, s.risk_score, s.reasons) == (
        0.0,
        100,
        ("low_time", "inactive", "low_completion", "low_engagement"),
    )
    # The rounded engagement is compared: 0.3 * 35995/36000 * 100 = 29.99583 -> 30.0, not below 30.
    s = score(
        rules, time_spent=35_995, active_days=0, interactions=0, completion=0.0, days_since_access=0, **common
    )
    assert s.engagement == 30.0 and "low_engagement" not in s.reasons
    # 14 days without access is not inactive; 15 is.
    assert (
        "inactive"
        not in score(
            rules, time_spent=0, active_days=0, interactions=0, completion=0.0, days_since_access=14, **common
        ).reasons
    )
    assert (
        "inactive"
        in score(
            rules, time_spent=0, active_days=0, interactions=0, completion=0.0, days_since_access=15, **common
        ).reasons
    )
    # Exactly 1 h is not low time.
    assert (
        "low_time"
        not in score(
            rules,
            time_spent=HOUR,
            active_days=0,
            interactions=0,
            completion=0.0,
            days_since_access=0,
            **common,
        ).reasons
    )


def test_completed_rows_and_the_grace_period_score_no_risk():
    rules = Rules()
    nothing = dict(
        time_spent=0, active_days=0, interactions=0, completion=0.0, days_since_access=None, now=NOW
    )
    done = score(rules, status="completed", timestarted=NOW - 90 * DAY, **nothing)
    assert (done.risk_score, done.at_risk, done.reasons) == (0, False, ())
    fresh = score(rules, status="not_started", timestarted=NOW - 7 * DAY + 1, **nothing)
    assert (fresh.risk_score, fresh.reasons) == (0, ())
    ended = score(rules, status="not_started", timestarted=NOW - 7 * DAY, **nothing)  # 7 days: grace over
    assert ended.risk_score == 100
    unknown_start = score(rules, status="not_started", timestarted=0, **nothing)  # no start: no grace
    assert unknown_start.risk_score == 100


def test_settings_change_the_score():
    rules = Rules.from_config(
        config(engagement_weight_time=0.5, engagement_weight_days=0, risk_threshold=100, risk_min_hours=4)
    )
    s = score(
        rules,
        time_spent=3 * HOUR,
        active_days=3,
        interactions=5,
        completion=40.0,
        days_since_access=20,
        status="in_progress",
        timestarted=0,
        now=NOW,
    )
    # 100 * (0.5*0.3 + 0*0.25 + 0.3*0.4 + 0.2*0.25) = 32.0; low_time fires at 4 h; 75 < 100.
    assert (s.engagement, s.reasons, s.at_risk) == (32.0, ("low_time", "inactive", "low_completion"), False)


# --- engagement over the database -----------------------------------------------------------------


def test_engagement_reads_the_window_last_access_and_live_rows_of_the_company(moodle):
    row(1, 100, 10, pct=40)
    row(1, 101, 10, status="completed", pct=100, completed=NOW - DAY)
    row(1, 102, 10, status="not_started", started=NOW - 3 * DAY)  # in grace
    row(1, 103, 10, deleted=1)  # tombstoned: not a live row
    row(2, 100, 10, pct=40)  # another company
    day(100, 10, "2026-03-01", duration=5 * HOUR, interactions=50)  # the day before the window
    day(100, 10, "2026-03-02", duration=HOUR, interactions=2)  # the window's first date
    day(100, 10, "2026-03-31", duration=2 * HOUR, interactions=3)  # today
    day(100, 10, "2026-03-15", duration=0, sessions=0, events=4)  # events, no session start: not active
    day(100, 11, "2026-03-15", duration=9 * HOUR, interactions=9)  # another course
    access(moodle, 100, 10, NOW - 20 * DAY - HOUR)
    access(moodle, 101, 10, NOW - 1)
    rows = by_user(get_report("engagement").run(ctx()))
    assert set(rows) == {(100, 10), (101, 10), (102, 10)}
    r = rows[(100, 10)]
    assert (
        r["time_spent"],
        r["active_days"],
        r["interactions"],
        r["completion"],
        r["days_since_access"],
    ) == (3 * HOUR, 2, 5, 40.0, 20)
    # 100 * (0.3*0.3 + 0.2*(2/12) + 0.3*0.4 + 0.2*0.25) = 29.3333 -> 29.33
    assert (r["engagement"], r["risk_score"], r["at_risk"], r["risk_reasons"]) == (
        29.33,
        75,
        True,
        ["inactive", "low_completion", "low_engagement"],
    )
    assert rows[(101, 10)]["days_since_access"] == 0 and rows[(101, 10)]["risk_score"] == 0
    assert rows[(102, 10)]["days_since_access"] is None and rows[(102, 10)]["risk_score"] == 0
    # All companies (operators): both companies' rows.
    assert {(r[0], r[1]) for r in get_report("engagement").run(ctx(None))} == {
        (1, 100),
        (1, 101),
        (1, 102),
        (2, 100),
    }


def test_at_risk_orders_by_risk_then_engagement(moodle):
    row(1, 100, 10, pct=40)  # 75: inactive, low completion, low engagement (no access)... plus low time
    row(1, 101, 10, pct=10)
    row(1, 102, 10, pct=60)
    row(1, 103, 10, status="completed", pct=100)
    day(100, 10, "2026-03-20", duration=2 * HOUR)
    day(102, 10, "2026-03-20", duration=2 * HOUR)
    access(moodle, 102, 10, NOW - DAY)
    report = get_report("at-risk")
    rows = report.run(ctx())
    names = report.column_names
    got = [
        (r[names.index("userid")], r[names.index("risk_score")], r[names.index("engagement")]) for r in rows
    ]
    # 101: 10 %, nothing else (100, engagement 3.0). 100: 2 h, 40 %, never accessed: inactive + low_completion + low_engagement
    # (75, engagement 100*(0.3*0.2 + 0.2/12 + 0.12) = 19.67). 102: 60 %, accessed yesterday: only
    # low_engagement (100*(0.06 + 0.2/12 + 0.18) = 25.67): 25 < 50, not at risk.
    assert got == [(101, 100, 3.0), (100, 75, 19.67)]
    # Paging by key: the rows after the first one.
    assert after(report, rows, report.key_of(rows[0])) == rows[1:]
    assert after(report, rows, report.key_of(rows[1])) == []


def test_course_summary(moodle):
    row(1, 100, 10, status="completed", pct=100)
    row(1, 101, 10, status="in_progress", pct=50)
    row(1, 102, 10, status="not_started", pct=0)
    row(1, 100, 11, status="in_progress", pct=33.33)
    row(2, 105, 12, status="completed", pct=100)  # another company
    report = get_report("course-summary")
    rows = {r[0]: dict(zip(report.column_names, r, strict=True)) for r in report.run(ctx())}
    assert set(rows) == {10, 11}
    c = rows[10]
    assert (c["learners"], c["completed"], c["in_progress"], c["not_started"]) == (3, 1, 1, 1)
    assert (c["completion_rate"], c["avg_percentage"], c["at_risk"]) == (33.33, 50.0, 2)
    # engagement: 30 (completion 100) + 15 + 0, / 3 = 15.0
    assert c["avg_engagement"] == 15.0
    assert (rows[11]["learners"], rows[11]["completion_rate"], rows[11]["avg_percentage"]) == (1, 0.0, 33.33)


def test_trends_are_the_12_local_months_ending_with_this_one(moodle):
    labels, edges = months(NOW, ZONE)
    assert labels[0] == "2025-04" and labels[-1] == "2026-03" and len(labels) == 12
    march_first = edges[-2]  # 2026-03-01 00:00 CET = 2026-02-28 23:00 UTC
    assert march_first == 1_772_319_600
    row(1, 100, 10, started=march_first, completed=march_first - 1)  # started March, completed February
    row(1, 101, 10, started=edges[0] - 1)  # March 2025: before the range
    row(1, 102, 10, started=edges[0], completed=NOW)
    row(1, 103, 10, started=march_first + 5, deleted=1)
    row(2, 104, 10, started=march_first + 5)  # another company
    rows = get_report("trends").run(ctx())
    assert len(rows) == 12
    assert rows[0] == ("2025-04", 1, 0)
    assert rows[-2] == ("2026-02", 0, 1)
    assert rows[-1] == ("2026-03", 1, 1)
    assert sum(r[1] for r in rows[1:-1]) == 0


def test_time_spent_is_the_members_daily_rows_in_the_range(moodle):
    moodle.company(1)
    for uid in (100, 101, 102, 103):
        moodle.user(uid, suspended=1 if uid == 103 else 0)
    moodle.member(1, 100)
    moodle.member(1, 101, suspended=1)  # suspended in the company
    moodle.member(1, 103)  # suspended user
    day(100, 10, "2026-03-10", duration=60)
    day(100, 10, "2026-02-10", duration=60)  # before the default window
    day(101, 10, "2026-03-10", duration=60)
    day(102, 10, "2026-03-10", duration=60)  # not a member
    day(103, 10, "2026-03-10", duration=60)
    report = get_report("time-spent")
    assert report.run(ctx()) == [(100, 10, "2026-03-10", 60, 1, 1, 0)]
    assert [r[2] for r in report.run(ctx(), {"from": "2026-02-01", "to": "2026-03-31"})] == [
        "2026-02-10",
        "2026-03-10",
    ]
    with pytest.raises(ReportError, match="date YYYY-MM-DD"):
        report.run(ctx(), {"from": "March"})
    with pytest.raises(ReportError, match="after to"):
        report.run(ctx(), {"from": "2026-03-10", "to": "2026-03-01"})


def test_inactive_learners(moodle):
    row(1, 100, 10)
    row(1, 100, 11)
    row(1, 101, 10)
    row(1, 102, 10)
    row(2, 103, 10)
    access(moodle, 100, 10, NOW - 40 * DAY)
    access(moodle, 100, 11, NOW - 31 * DAY)  # the latest of the user's courses counts
    access(moodle, 101, 10, NOW - 30 * DAY)  # exactly 30 days: not "more than"
    report = get_report("inactive-learners")
    rows = report.run(ctx())
    assert rows == [
        (100, "F100", "L100", "u100@example.com", 2, NOW - 31 * DAY),
        (102, "F102", "L102", "u102@example.com", 1, 0),
    ]
    assert [r[0] for r in report.run(ctx(), {"days": "35"})] == [102]
    with pytest.raises(ReportError, match="between 1 and 3650"):
        report.run(ctx(), {"days": "0"})
    with pytest.raises(ReportError, match="no parameter 'dayz'"):
        report.run(ctx(), {"dayz": "3"})


def test_the_registry():
    assert [r.name for r in REPORTS] == [
        "engagement",
        "at-risk",
        "course-summary",
        "trends",
        "time-spent",
        "inactive-learners",
    ]
    for report in REPORTS:
        assert set(report.key) <= set(report.column_names)
        assert report.title and report.description
    with pytest.raises(ReportError, match="choose engagement"):
        get_report("nope")
