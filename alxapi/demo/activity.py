"""Learner activity for the demo site (SPEC §8.1): Moodle standard-log events and last accesses.

Read back from the generated enrolments, so it needs nothing from the generator's internals, and
drawn from its own random stream, so every other demo table stays exactly as it was. Each student
enrolment gets a profile that decides its sessions — never seen, lapsed (nothing in the last five
weeks), steady, or busy lately — so that every at-risk reason of §8.3 fires for somebody. Sessions
hold several events a few minutes apart (now and then just under or over the 600 s session gap);
logins (course 0), site-course events, anonymous events and "logged in as" events are mixed in, as
Moodle writes them. ``user_lastaccess`` holds each pair's latest course event, as Moodle keeps it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import peewee

from .moodle_schema import insert_tuples

DAY = 86_400
LOG_COLUMNS = (
    "id",
    "eventname",
    "component",
    "action",
    "target",
    "objecttable",
    "objectid",
    "crud",
    "edulevel",
    "contextid",
    "contextlevel",
    "contextinstanceid",
    "userid",
    "courseid",
    "relateduserid",
    "anonymous",
    "other",
    "timecreated",
    "origin",
    "ip",
    "realuserid",
)
# (eventname, component, action, target, crud, edulevel, weight) of events inside a course.
COURSE_EVENTS = (
    ("\\core\\event\\course_viewed", "core", "viewed", "course", "r", 2, 6),
    ("\\mod_page\\event\\course_module_viewed", "mod_page", "viewed", "course_module", "r", 2, 5),
    ("\\mod_resource\\event\\course_module_viewed", "mod_resource", "viewed", "course_module", "r", 2, 3),
    ("\\mod_quiz\\event\\attempt_started", "mod_quiz", "started", "attempt", "c", 2, 1),
    ("\\mod_quiz\\event\\attempt_submitted", "mod_quiz", "submitted", "attempt", "u", 2, 1),
    ("\\mod_forum\\event\\discussion_viewed", "mod_forum", "viewed", "discussion", "r", 2, 2),
    (
        "\\core\\event\\course_module_completion_updated",
        "core",
        "updated",
        "course_module_completion",
        "u",
        0,
        2,
    ),
    (
        "\\gradereport_user\\event\\grade_report_viewed",
        "gradereport_user",
        "viewed",
        "grade_report",
        "r",
        0,
        1,
    ),
)
_WEIGHTS = [e[6] for e in COURSE_EVENTS]
LOGIN = ("\\core\\event\\user_loggedin", "core", "loggedin", "user", "r", 0)
SITE_VIEW = ("\\core\\event\\course_viewed", "core", "viewed", "course", "r", 2)
ADMIN = 2  # the demo's admin user: the "logged in as" real user
SITE_COURSE = 1
SYSTEM_CONTEXT = 1
# profile name -> (share, number of sessions, how far back they may lie in days, how far back at most recent)
PROFILES = (
    ("never", 0.12, (0, 0), 0, 0),
    ("lapsed", 0.18, (1, 5), 120, 35),
    ("steady", 0.45, (3, 10), 90, 0),
    ("busy", 0.25, (8, 20), 28, 0),
)


def _profile(rng: random.Random) -> tuple[str, tuple[int, int], int, int]:
    pick = rng.random()
    for name, share, sessions, back, recent in PROFILES:
        if pick < share:
            return name, sessions, back, recent
        pick -= share
    return PROFILES[-1][0], *PROFILES[-1][2:]  # type: ignore[return-value]


def _enrolments(db: peewee.Database, prefix: str) -> list[tuple[int, int, int]]:
    """(userid, courseid, first start) of every active student enrolment, in a stable order."""
    sql = (
        "SELECT ue.userid, e.courseid, MIN(CASE WHEN ue.timestart > 0 THEN ue.timestart ELSE ue.timecreated END) "
        f"FROM {prefix}user_enrolments ue JOIN {prefix}enrol e ON e.id = ue.enrolid "
        f"JOIN {prefix}course c ON c.id = e.courseid "
        "WHERE ue.status = 0 AND e.status = 0 AND c.category <> 0 "
        "GROUP BY ue.userid, e.courseid ORDER BY ue.userid, e.courseid"
    )
    return [(int(u), int(c), int(t or 0)) for u, c, t in db.execute_sql(sql).fetchall()]


def _course_contexts(db: peewee.Database, prefix: str) -> dict[int, int]:
    sql = f"SELECT instanceid, id FROM {prefix}context WHERE contextlevel = 50"
    return {int(course): int(ctx) for course, ctx in db.execute_sql(sql).fetchall()}


def _event(
    kind: tuple,
    context: int,
    level: int,
    instance: int,
    user: int,
    course: int,
    anonymous: int,
    ip: str,
    real,
):
    """A log row in LOG_COLUMNS order without ``id`` and ``timecreated``."""
    name, component, action, target, crud, edulevel = kind[:6]
    return (name, component, action, target, None, None, crud, edulevel, context, level, instance, user, course,
            None, anonymous, "N;", "web", ip, real)  # fmt: skip


def _sessions(
    rng: random.Random, user: int, course: int, start: int, now: int, context: int
) -> Iterator[tuple]:
    """The (time, event row without id) of one enrolment's activity."""
    _name, (low, high), back, recent = _profile(rng)
    count = rng.randint(low, high) if high else 0
    earliest = max(start, now - back * DAY)
    latest = now - recent * DAY - 3600
    if count == 0 or latest <= earliest:
        return
    ip = f"10.{user % 250}.{course % 250}.{rng.randint(1, 250)}"
    for _ in range(count):
        t = rng.randint(earliest, latest)
        yield t - rng.randint(5, 60), _event(LOGIN, SYSTEM_CONTEXT, 10, 0, user, 0, 0, ip, None)
        if rng.random() < 0.15:  # the dashboard on the front page: the site course
            yield t - 3, _event(SITE_VIEW, SYSTEM_CONTEXT, 10, 0, user, SITE_COURSE, 0, ip, None)
        as_admin = ADMIN if rng.random() < 0.01 else None
        for _ in range(rng.randint(2, 14)):
            kind = rng.choices(COURSE_EVENTS, _WEIGHTS)[0]
            anonymous = 1 if rng.random() < 0.01 else 0
            yield t, _event(kind, context, 50, course, user, course, anonymous, ip, as_admin)
            gap = rng.random()
            t += rng.randint(20, 400) if gap < 0.9 else rng.randint(560, 640)  # sometimes near the 600 s edge
            if t > now - 120:
                break


def make_activity(db: peewee.Database, prefix: str, seed: int, now: int) -> dict[str, int]:
    """Fill ``logstore_standard_log`` and ``user_lastaccess``; return their row counts."""
    rng = random.Random(seed * 7919 + 1)
    contexts = _course_contexts(db, prefix)
    events: list[tuple[int, tuple]] = []
    for user, course, start in _enrolments(db, prefix):
        events.extend(
            _sessions(rng, user, course, start or now - 60 * DAY, now, contexts.get(course, SYSTEM_CONTEXT))
        )
    events.sort(key=lambda e: e[0])
    last: dict[tuple[int, int], int] = {}
    rows = []
    for index, (t, row) in enumerate(events, start=1):
        rows.append((index, *row[:16], t, *row[16:]))
        user, course = row[11], row[12]
        if course and course != SITE_COURSE:
            last[(user, course)] = t
    logs = insert_tuples(db, "logstore_standard_log", LOG_COLUMNS, rows, prefix)
    access = insert_tuples(
        db,
        "user_lastaccess",
        ("id", "userid", "courseid", "timeaccess"),
        ((i, u, c, t) for i, ((u, c), t) in enumerate(sorted(last.items()), start=1)),
        prefix,
    )
    return {"logstore_standard_log": logs, "user_lastaccess": access}
