"""Time spent from Moodle's log (SPEC §8.2), hand-computed cases on every backend, and the invariant
that any split of the log into incremental runs gives the daily table of one full run."""

from __future__ import annotations

import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alxapi.analytics.timespent import IN_FLIGHT_SECONDS, MAX_USERS, offsets, refresh
from alxapi.config import load_config
from models import schema
from models.analytics import UserTimeDaily
from models.moodle import Course

T0 = 1_772_445_600  # 2026-03-02 10:00:00 UTC, a Monday
NOW = T0 + 30 * 86_400


def config(zone: str = "UTC", timeout: int = 600):
    return load_config(flags={"timezone": zone, "session_timeout": timeout}, env={}, search_paths=[])


def site(b) -> None:
    b.course(10, modules=1)
    b.course(11, modules=1)
    b.user(100)
    b.user(101)
    schema.install(b.db)


def daily() -> dict[tuple, tuple]:
    return {
        (r.userid, r.courseid, r.date): (r.duration, r.sessions, r.events, r.interactions)
        for r in UserTimeDaily.select()
    }


def daily_with_tails() -> dict[tuple, tuple]:
    """The daily rows with each date's last event and its session start (the next run's tail)."""
    return {
        (r.userid, r.courseid, r.date): (
            r.duration,
            r.sessions,
            r.events,
            r.interactions,
            r.last_time,
            r.open_start,
        )
        for r in UserTimeDaily.select()
    }


def test_the_600_second_boundary_lone_events_and_interactions(moodle):
    site(moodle)
    moodle.log(100, 10, T0)
    moodle.log(100, 10, T0 + 600, edulevel=2)  # exactly 600 s later: the same session
    moodle.log(100, 10, T0 + 1201)  # 601 s later: a new session
    moodle.log(101, 10, T0 + 50)  # a lone event: a session of 0 s
    result = refresh(moodle.db, config(), NOW)
    assert (result.mode, result.events, result.pairs) == ("full", 4, 2)
    assert daily() == {
        (100, 10, "2026-03-02"): (600, 2, 3, 1),
        (101, 10, "2026-03-02"): (0, 1, 1, 0),
    }


def test_events_that_do_not_count(moodle):
    site(moodle)
    moodle.log(100, 10, T0, anonymous=1)
    moodle.log(100, 10, T0 + 10, realuserid=2)  # "logged in as"
    moodle.log(100, 1, T0 + 20)  # the site course (category 0)
    moodle.log(0, 10, T0 + 30)  # no user
    moodle.log(100, 999, T0 + 40)  # a course that does not exist
    moodle.log(100, 0, T0 + 50)  # no course
    refresh(moodle.db, config(), NOW)
    assert daily() == {}


def test_a_session_belongs_to_the_local_date_of_its_first_event(moodle):
    site(moodle)
    # 23:55 and 00:03 in Berlin (UTC+1 in March): one session of 480 s on the 2nd, an event on the 3rd.
    start = T0 - 10 * 3600 + 22 * 3600 + 55 * 60  # 2026-03-02 22:55 UTC = 23:55 CET
    moodle.log(100, 10, start)
    moodle.log(100, 10, start + 480)
    refresh(moodle.db, config("Europe/Berlin"), NOW)
    assert daily() == {
        (100, 10, "2026-03-02"): (480, 1, 1, 0),
        (100, 10, "2026-03-03"): (0, 0, 1, 0),  # events but no session start
    }


def test_local_dates_across_a_dst_change(moodle):
    site(moodle)
    # New York springs forward on 2026-03-08 at 02:00 EST (07:00 UTC): 23:30 local is 04:30 UTC before
    # the change and 03:30 UTC after it.
    before = 1_772_854_200  # 2026-03-07 04:30 UTC = 2026-03-06 23:30 EST
    after = 1_773_113_400  # 2026-03-10 03:30 UTC = 2026-03-09 23:30 EDT
    moodle.log(100, 10, before)
    moodle.log(100, 10, after)
    refresh(moodle.db, config("America/New_York"), NOW)
    assert set(daily()) == {(100, 10, "2026-03-06"), (100, 10, "2026-03-09")}
    assert [off for _t, off in offsets("America/New_York", before, after)] == [-5 * 3600, -4 * 3600]


def test_incremental_runs_continue_sessions_and_keep_rows_of_deleted_events(moodle):
    site(moodle)
    moodle.log(100, 10, T0)
    refresh(moodle.db, config(), NOW)
    moodle.log(100, 10, T0 + 300)  # continues the session of the first run
    second = refresh(moodle.db, config(), NOW)
    assert (second.mode, second.events, second.pairs) == ("incremental", 1, 1)
    assert daily() == {(100, 10, "2026-03-02"): (300, 1, 2, 0)}
    assert refresh(moodle.db, config(), NOW).events == 0  # nothing new: nothing done
    # Moodle's log retention deletes the oldest events: their daily rows stay.
    moodle.log(100, 11, T0 + 5 * 86_400)
    moodle.execute(f"DELETE FROM {{t:logstore_standard_log}} WHERE timecreated < {T0 + 86_400}")
    moodle.log(100, 11, T0 + 5 * 86_400 + 60)
    refresh(moodle.db, config(), NOW)
    assert daily()[(100, 10, "2026-03-02")] == (300, 1, 2, 0)
    assert daily()[(100, 11, "2026-03-07")] == (60, 1, 2, 0)


def test_events_of_the_last_moments_wait_for_the_next_run(moodle):
    site(moodle)
    moodle.log(100, 10, NOW - IN_FLIGHT_SECONDS + 1)
    assert refresh(moodle.db, config(), NOW).events == 0
    assert refresh(moodle.db, config(), NOW + IN_FLIGHT_SECONDS).events == 1


events = st.lists(
    st.tuples(
        st.sampled_from([100, 101]),
        st.sampled_from([10, 11]),
        # Clustered near the local midnights of the three zones (T0 is 10:00 UTC; midnight in
        # Kolkata is 18:30 UTC, in Berlin 23:00, in UTC 00:00) and 600 s apart or so: sessions
        # that span runs and dates, and gaps on both sides of the timeout.
        st.builds(
            lambda base, jitter: base + jitter,
            st.sampled_from([0, 30_200, 46_400, 50_000, 136_400]),
            st.integers(0, 1_000),
        ),
        st.sampled_from([0, 0, 0, 1]),  # now and then an anonymous event, which does not count
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    events,
    st.lists(st.integers(1, 24), max_size=4),
    st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata"]),
    st.lists(st.integers(0, 23), max_size=3),
)
def test_any_split_into_incremental_runs_equals_one_full_run(moodle, log, cuts, zone, late):
    """Runs that only append to a pair's events (Moodle logs in time order) add what the new events
    add; ``late`` swaps neighbours, so some events get a higher id than a later one (a transaction
    that committed late) and their pairs are recomputed. Either way: the full run's table, with
    the tails the next run starts from."""
    moodle.execute("DELETE FROM {t:logstore_standard_log}")
    if not Course.select().where(Course.id == 10).exists():  # the first example (the fixture is shared)
        site(moodle)
    UserTimeDaily.delete().execute()
    moodle.execute("DELETE FROM {t:local_alx_api_state} WHERE name = 'analytics_watermark'")
    ordered = sorted(log, key=lambda e: e[2])  # ids grow with time, as in Moodle
    for i in late:
        if i + 1 < len(ordered):
            ordered[i], ordered[i + 1] = ordered[i + 1], ordered[i]
    cut_points = sorted({min(c, len(ordered)) for c in cuts})
    done = 0
    for cut in [*cut_points, len(ordered)]:
        for userid, courseid, offset, anonymous in ordered[done:cut]:
            moodle.log(userid, courseid, T0 + offset, anonymous=anonymous)
        done = max(done, cut)
        refresh(moodle.db, config(zone), NOW)
    incremental = daily_with_tails()
    assert sum(row[2] for row in incremental.values()) == sum(1 for e in log if not e[3])  # all counted
    refresh(moodle.db, config(zone), NOW, full=True)
    assert incremental == daily_with_tails()


def test_an_incremental_run_over_many_pairs(moodle):
    """Hundreds of affected learner-course pairs in one run (a delete of 200 OR'ed pairs once
    overflowed SQLite's parser stack)."""
    site(moodle)
    users = range(1000, 1260)
    for uid in users:
        moodle.user(uid)
        moodle.log(uid, 10, T0)
    refresh(moodle.db, config(), NOW)
    for uid in users:
        moodle.log(uid, 10, T0 + 60)
        moodle.log(uid, 11, T0 + 120)
    result = refresh(moodle.db, config(), NOW)
    assert (result.mode, result.pairs) == ("incremental", 2 * len(users))
    rows = daily()
    assert all(rows[(uid, 10, "2026-03-02")] == (60, 1, 2, 0) for uid in users)
    assert all(rows[(uid, 11, "2026-03-02")] == (0, 1, 1, 0) for uid in users)


def test_new_events_that_do_not_count_leave_the_pair_alone(moodle):
    site(moodle)
    moodle.log(100, 10, T0)
    refresh(moodle.db, config(), NOW)
    moodle.log(100, 10, T0 + 60, anonymous=1)  # new, but not counted: the pair is not recomputed
    moodle.log(100, 10, T0 + 90, realuserid=2)
    moodle.log(101, 11, T0 + 120)  # while another pair has a counted new event
    result = refresh(moodle.db, config(), NOW)
    assert (result.events, result.pairs) == (1, 1)
    assert daily() == {(100, 10, "2026-03-02"): (0, 1, 1, 0), (101, 11, "2026-03-02"): (0, 1, 1, 0)}


def test_a_late_event_recomputes_its_pair_and_appends_the_others(moodle):
    """An event older than its pair's last counted one (its transaction committed late, with a
    higher id) cannot be appended: that pair is recomputed from its events; the others append."""
    site(moodle)
    moodle.log(100, 10, T0)
    moodle.log(100, 10, T0 + 400)
    moodle.log(101, 10, T0)
    refresh(moodle.db, config(), NOW)
    moodle.log(100, 10, T0 + 200)  # late: between the two counted ones
    moodle.log(101, 10, T0 + 500)  # appended: the open session grows by 500 s
    result = refresh(moodle.db, config(), NOW)
    assert (result.events, result.pairs) == (2, 2)
    assert daily_with_tails() == {
        (100, 10, "2026-03-02"): (400, 1, 3, 0, T0 + 400, T0),
        (101, 10, "2026-03-02"): (500, 1, 2, 0, T0 + 500, T0),
    }


def test_rows_without_a_tail_are_recomputed(moodle):
    """Rows written before schema step 9 have no tail (0): the pair is recomputed, then appends."""
    site(moodle)
    moodle.log(100, 10, T0)
    refresh(moodle.db, config(), NOW)
    UserTimeDaily.update(last_time=0, open_start=0).execute()
    moodle.log(100, 10, T0 + 300)
    refresh(moodle.db, config(), NOW)
    assert daily_with_tails() == {(100, 10, "2026-03-02"): (300, 1, 2, 0, T0 + 300, T0)}
    moodle.log(100, 10, T0 + 86_400)  # the next day, a new session
    refresh(moodle.db, config(), NOW)
    assert daily_with_tails() == {
        (100, 10, "2026-03-02"): (300, 1, 2, 0, T0 + 300, T0),
        (100, 10, "2026-03-03"): (0, 1, 1, 0, T0 + 86_400, T0 + 86_400),
    }


def test_a_session_continued_past_midnight_in_a_later_run_grows_on_its_start_date(moodle):
    site(moodle)
    evening = T0 + 14 * 3600 - 300  # 23:55 UTC
    moodle.log(100, 10, evening)
    refresh(moodle.db, config(), NOW)
    moodle.log(100, 10, evening + 480)  # 00:03 the next day, 8 minutes later: the same session
    moodle.log(100, 10, evening + 480 + 601, edulevel=2)  # then a new one
    refresh(moodle.db, config(), NOW)
    assert daily_with_tails() == {
        (100, 10, "2026-03-02"): (480, 1, 1, 0, evening, evening),
        (100, 10, "2026-03-03"): (0, 1, 2, 1, evening + 1081, evening + 1081),
    }


def test_two_runs_at_once_count_each_event_once(moodle, monkeypatch):
    """The worker's job and `alx analytics refresh` may start together: the second to commit finds
    the log range taken and adds nothing (deltas added twice would count events twice)."""
    from alxapi.analytics import timespent

    site(moodle)
    moodle.log(100, 10, T0)
    refresh(moodle.db, config(), NOW)
    moodle.log(100, 10, T0 + 300)
    moodle.log(101, 11, T0 + 400)
    real = timespent._appended_select
    other: dict = {}

    def meanwhile(*args, **kwargs):  # after this run read the pairs, another one does it all
        if not other:
            other["started"] = True  # the other run passes here too
            thread = threading.Thread(target=lambda: other.update(result=_other_run(moodle.db)))
            thread.start()
            thread.join()
        return real(*args, **kwargs)

    monkeypatch.setattr(timespent, "_appended_select", meanwhile)
    mine = refresh(moodle.db, config(), NOW)
    assert other["result"].events == 2 and mine.events == 0
    assert daily_with_tails() == {
        (100, 10, "2026-03-02"): (300, 1, 2, 0, T0 + 300, T0),
        (101, 11, "2026-03-02"): (0, 1, 1, 0, T0 + 400, T0 + 400),
    }


def _other_run(db):
    with db.connection_context():  # this thread's own connection
        return refresh(db, config(), NOW)


def test_user_ids_past_the_packed_limit_are_a_clear_error_that_writes_nothing(moodle):
    """The window pass packs a user id and a time into one 64-bit value (timespent.MAX_USERS)."""
    site(moodle)
    moodle.log(100, 10, T0)
    refresh(moodle.db, config(), NOW)
    before = daily_with_tails()
    moodle.log(MAX_USERS, 10, T0 + 60)
    with pytest.raises(ValueError, match="user ids below 1,073,741,824"):
        refresh(moodle.db, config(), NOW, full=True)
    assert daily_with_tails() == before
    moodle.execute("DELETE FROM {t:logstore_standard_log} WHERE userid = ?", [MAX_USERS])
    moodle.log(MAX_USERS - 2, 10, T0 + 60)  # the highest id that leaves room for the sentinel
    refresh(moodle.db, config(), NOW, full=True)
    assert daily()[(MAX_USERS - 2, 10, "2026-03-02")] == (0, 1, 1, 0)
