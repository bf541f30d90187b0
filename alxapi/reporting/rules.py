"""SPEC §3.2 as one set-based SELECT, restricted to a scope, portable to SQLite, MariaDB and PostgreSQL.

The query yields, for every qualifying (company, user, course) of the scope, the values of the
reporting row. Two scopes exist:

* ``courses``: every key of a list of courses (optionally one company) — full syncs and course
  partitions found by change detection;
* ``pairs``: the (user, course) pairs listed in the work table ``alx_scope`` — incremental syncs.

Portability notes (see db_portability.md): flags are compared with ``= 0``, division is done on a
decimal (``100.0 *``), ROUND is applied to a decimal, every identifier is quoted, nothing relies on
case-insensitive collation. Company membership is de-duplicated in ``alx_members`` (built once
per run) because a user may have several ``company_users`` rows per company and IOMAD has no
index on ``company_users.userid``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import peewee

from models import iomad, moodle
from models.db import quote
from models.moodle import CONTEXT_COURSE

VALUE_COLUMNS = (
    "firstname",
    "lastname",
    "email",
    "username",
    "coursename",
    "timecompleted",
    "timestarted",
    "percentage",
    "status",
)
KEY_COLUMNS = ("companyid", "userid", "courseid")


@dataclass(frozen=True)
class Tables:
    """Quoted, prefixed table names for the SQL below."""

    user: str
    course: str
    course_modules: str
    cmc: str
    course_completions: str
    enrol: str
    user_enrolments: str
    context: str
    role: str
    role_assignments: str
    company_users: str
    # Work tables of the sync engine (see alxapi.reporting.worktables).
    members: str = "alx_members"  # (userid, companyid): active users, unsuspended in the company
    scope: str = "alx_scope"  # (userid, courseid): the pairs to recompute in "pairs" mode
    fresh: str = "alx_fresh"  # the recomputed rows of the current batch, with their diff action

    @classmethod
    def current(cls, db: peewee.Database, work_prefix: str = "") -> Tables:
        q = functools.partial(quote, db=db)
        return cls(
            members=q(work_prefix + "alx_members"),
            scope=q(work_prefix + "alx_scope"),
            fresh=q(work_prefix + "alx_fresh"),
            user=q(moodle.User._meta.table_name),
            course=q(moodle.Course._meta.table_name),
            course_modules=q(moodle.CourseModule._meta.table_name),
            cmc=q(moodle.CourseModuleCompletion._meta.table_name),
            course_completions=q(moodle.CourseCompletion._meta.table_name),
            enrol=q(moodle.Enrol._meta.table_name),
            user_enrolments=q(moodle.UserEnrolment._meta.table_name),
            context=q(moodle.Context._meta.table_name),
            role=q(moodle.Role._meta.table_name),
            role_assignments=q(moodle.RoleAssignment._meta.table_name),
            company_users=q(iomad.CompanyUser._meta.table_name),
        )


def members_sql(t: Tables) -> str:
    """Rows for the members work table: active Moodle users with an unsuspended company membership."""
    return f"""
        SELECT DISTINCT cu.userid, cu.companyid
        FROM {t.company_users} cu
        JOIN {t.user} u ON u.id = cu.userid
        WHERE cu.suspended = 0 AND u.deleted = 0 AND u.suspended = 0"""


class _Params:
    """Collects parameters in the order their placeholders are written into the SQL text."""

    def __init__(self, placeholder: str):
        self.placeholder = placeholder
        self.values: list = []

    def __call__(self, value) -> str:
        self.values.append(value)
        return self.placeholder

    def many(self, values) -> str:
        return ", ".join(self(v) for v in values)


def rows_query(
    t: Tables,
    placeholder: str,
    *,
    now: int,
    role_ids: list[int],
    courses: list[int] | None = None,
    companyid: int | None = None,
    driving_join: str = "JOIN",
) -> tuple[str, list]:
    """(sql, params) of the SELECT computing reporting rows, in KEY_COLUMNS + VALUE_COLUMNS order.

    With ``courses`` the scope is every key of those courses; without, the pairs in ``alx_scope``.
    ``companyid`` restricts the rows to one company. ``role_ids`` are the ids of the reported
    roles (resolved once per run by :func:`role_ids`).
    """
    p = _Params(placeholder)
    if courses is not None:
        enrolments = (
            f"FROM {t.enrol} e JOIN {t.user_enrolments} ue ON ue.enrolid = e.id "
            f"WHERE e.courseid IN ({p.many(courses)}) AND "
        )
    else:
        # Drive from the few listed pairs: user_enrolments by userid, then the enrol instance.
        enrolments = (
            f"FROM {t.scope} s {driving_join} {t.user_enrolments} ue ON ue.userid = s.userid "
            f"JOIN {t.enrol} e ON e.id = ue.enrolid AND e.courseid = s.courseid WHERE "
        )
    active_enrolment = f"ue.timestart <= {p(now)} AND (ue.timeend = 0 OR ue.timeend > {p(now)})"
    company_filter = f"AND m.companyid = {p(companyid)}" if companyid is not None else ""
    if courses is not None:
        tracked_scope = f"cm.course IN ({p.many(courses)})"
        done_from = (
            f"FROM {t.course_modules} cm JOIN {t.cmc} cmc ON cmc.coursemoduleid = cm.id "
            f"WHERE cm.course IN ({p.many(courses)}) AND "
        )
    else:
        tracked_scope = f"cm.course IN (SELECT DISTINCT courseid FROM {t.scope})"
        done_from = (
            f"FROM {t.scope} s {driving_join} {t.cmc} cmc ON cmc.userid = s.userid "
            f"JOIN {t.course_modules} cm ON cm.id = cmc.coursemoduleid AND cm.course = s.courseid "
            "WHERE "
        )
    role_list = p.many(role_ids or [-1])  # no reported role exists: nothing qualifies
    # The role check reads only the assignments of the scope's course contexts. Without this
    # PostgreSQL turns the EXISTS into a hash of every role assignment of the site, for every chunk
    # of courses (0.7 s of 1.1 s per chunk on the 1M-enrolment bench).
    role_contexts = (
        f"AND ra.contextid IN (SELECT cx.id FROM {t.context} cx WHERE cx.contextlevel = {CONTEXT_COURSE} "
        f"AND cx.instanceid IN ({p.many(courses)}))"
        if courses is not None
        else ""
    )
    # M(K): tracked activities; none when completion tracking is off for the course.
    tracked = "(CASE WHEN c.enablecompletion = 1 THEN COALESCE(tr.n, 0) ELSE 0 END)"
    done = "(CASE WHEN c.enablecompletion = 1 THEN COALESCE(d.n, 0) ELSE 0 END)"
    course_done = "(cc.timecompleted IS NOT NULL AND cc.timecompleted > 0)"
    all_done = f"({tracked} > 0 AND {done} >= {tracked})"
    sql = f"""
        SELECT m.companyid, a.userid, a.courseid,
               u.firstname, u.lastname, u.email, u.username, c.fullname AS coursename,
               CASE WHEN {course_done} THEN cc.timecompleted
                    WHEN {all_done} THEN d.lastdone
                    ELSE 0 END AS timecompleted,
               CASE WHEN cc.timestarted > 0 THEN cc.timestarted
                    ELSE COALESCE(a.firststart, a.firstcreated, 0) END AS timestarted,
               CASE WHEN {course_done} THEN 100.00
                    WHEN {tracked} = 0 THEN 0.00
                    ELSE ROUND(100.0 * {done} / {tracked}, 2) END AS percentage,
               CASE WHEN {course_done} OR {all_done} THEN 'completed'
                    WHEN {done} > 0 THEN 'in_progress'
                    ELSE 'not_started' END AS status
        FROM (
            SELECT ue.userid, e.courseid,
                   MIN(CASE WHEN ue.timestart > 0 THEN ue.timestart END) AS firststart,
                   MIN(CASE WHEN ue.timecreated > 0 THEN ue.timecreated END) AS firstcreated
            {enrolments}e.status = 0 AND ue.status = 0 AND {active_enrolment}
            GROUP BY ue.userid, e.courseid
        ) a
        JOIN {t.course} c ON c.id = a.courseid AND c.visible = 1 AND c.category <> 0
        JOIN {t.context} ctx ON ctx.contextlevel = {CONTEXT_COURSE} AND ctx.instanceid = a.courseid
        JOIN {t.user} u ON u.id = a.userid
        JOIN {t.members} m ON m.userid = a.userid {company_filter}
        LEFT JOIN (
            SELECT cm.course, COUNT(*) AS n
            FROM {t.course_modules} cm
            WHERE {tracked_scope} AND cm.completion > 0 AND cm.deletioninprogress = 0
            GROUP BY cm.course
        ) tr ON tr.course = a.courseid
        LEFT JOIN (
            SELECT cmc.userid, cm.course, COUNT(*) AS n, MAX(cmc.timemodified) AS lastdone
            {done_from}cm.completion > 0 AND cm.deletioninprogress = 0 AND cmc.completionstate <> 0
            GROUP BY cmc.userid, cm.course
        ) d ON d.userid = a.userid AND d.course = a.courseid
        LEFT JOIN {t.course_completions} cc ON cc.userid = a.userid AND cc.course = a.courseid
        WHERE EXISTS (
            SELECT 1 FROM {t.role_assignments} ra
            WHERE ra.userid = a.userid AND ra.contextid = ctx.id AND ra.roleid IN ({role_list}) {role_contexts}
        )"""
    return sql, p.values


def role_ids(db: peewee.Database, t: Tables, shortnames: list[str]) -> list[int]:
    """Ids of the reported roles, matched exactly by shortname (never by a case-insensitive collation)."""
    if not shortnames:
        return []
    rows = db.execute_sql(
        f"SELECT id, shortname FROM {t.role} WHERE shortname IN ({', '.join([db.param] * len(shortnames))})",
        list(shortnames),
    ).fetchall()
    return sorted(rid for rid, shortname in rows if shortname in shortnames)
