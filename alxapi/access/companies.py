"""Reads behind the console's Companies screen: companies with their counts, and per-course access.

Counts (SPEC §6 "list with counts"):
- ``users``: distinct active members (a ``company_users`` row with ``suspended = 0`` whose Moodle user
  is neither deleted nor suspended: the membership rule of SPEC §3.2);
- ``courses``: distinct courses of the company in IOMAD's ``company_course``;
- ``rows``: live reporting rows (``is_deleted = 0``) of the company;
- ``tokens``: managed API tokens of the company that are neither revoked nor expired.

Enrolled counts per course are the company's live reporting rows in that course: its members with an
active enrolment and a reported role, as of the last sync (what the API serves for that course).
"""

from __future__ import annotations

import peewee

from models.iomad import Company, CompanyCourse, CompanyUser
from models.moodle import Course, User
from models.plugin import ApiToken, Reporting

from . import settings as company_settings


def company_choices() -> list[tuple[int, str]]:
    """(id, name) of every IOMAD company, by id."""
    return [(int(i), n) for i, n in Company.select(Company.id, Company.name).order_by(Company.id).tuples()]


def _grouped(query) -> dict[int, int]:
    return {int(k): int(v) for k, v in query.tuples()}


def company_overview(now: int) -> list[dict]:
    """Every company with its counts (five grouped queries, whatever the number of companies)."""
    users = _grouped(
        CompanyUser.select(CompanyUser.companyid, peewee.fn.COUNT(CompanyUser.userid.distinct()))
        .join(User, on=(User.id == CompanyUser.userid))
        .where((CompanyUser.suspended == 0) & (User.deleted == 0) & (User.suspended == 0))
        .group_by(CompanyUser.companyid)
    )
    courses = _grouped(
        CompanyCourse.select(
            CompanyCourse.companyid, peewee.fn.COUNT(CompanyCourse.courseid.distinct())
        ).group_by(CompanyCourse.companyid)
    )
    rows = _grouped(
        Reporting.select(Reporting.companyid, peewee.fn.COUNT(Reporting.id))
        .where(Reporting.is_deleted == 0)
        .group_by(Reporting.companyid)
    )
    tokens = _grouped(
        ApiToken.select(ApiToken.companyid, peewee.fn.COUNT(ApiToken.id))
        .where((ApiToken.revoked_at == 0) & ((ApiToken.expires_at == 0) | (ApiToken.expires_at >= int(now))))
        .group_by(ApiToken.companyid)
    )
    result = []
    for cid, name, shortname, suspended in (
        Company.select(Company.id, Company.name, Company.shortname, Company.suspended)
        .order_by(Company.id)
        .tuples()
    ):
        cid = int(cid)
        result.append(
            {
                "id": cid,
                "name": name,
                "shortname": shortname,
                "suspended": bool(suspended),
                "users": users.get(cid, 0),
                "courses": courses.get(cid, 0),
                "rows": rows.get(cid, 0),
                "tokens": tokens.get(cid, 0),
            }
        )
    return result


def course_access(companyid: int, settings: company_settings.CompanySettings | None = None) -> list[dict]:
    """The courses an operator may switch for a company, with enrolled counts and the effective switch.

    Listed: the company's ``company_course`` courses, courses with a stored ``course_<id>`` switch and
    courses with reporting rows for the company. ``enabled`` applies the course rule (SPEC §4.1);
    ``switch`` is the stored value (None when not stored).
    """
    settings = settings or company_settings.load(companyid)
    in_company = {
        int(c)
        for (c,) in CompanyCourse.select(CompanyCourse.courseid)
        .where(CompanyCourse.companyid == companyid)
        .tuples()
    }
    enrolled = _grouped(
        Reporting.select(Reporting.courseid, peewee.fn.COUNT(Reporting.id))
        .where((Reporting.companyid == companyid) & (Reporting.is_deleted == 0))
        .group_by(Reporting.courseid)
    )
    switches = dict(settings.course_switches)
    ids = sorted(in_company | set(switches) | set(enrolled))
    if not ids:
        return []
    courses = {
        int(c.id): c
        for c in Course.select(Course.id, Course.fullname, Course.shortname, Course.visible).where(
            Course.id.in_(ids)
        )
    }
    enabled = set(settings.courses)
    result = []
    for cid in ids:
        course = courses.get(cid)
        result.append(
            {
                "courseid": cid,
                "fullname": course.fullname if course else f"(course {cid} no longer exists)",
                "shortname": course.shortname if course else "",
                "visible": bool(course.visible) if course else False,
                "exists": course is not None,
                "in_company_course": cid in in_company,
                "enrolled": enrolled.get(cid, 0),
                "switch": switches.get(cid),
                "enabled": cid in enabled,
            }
        )
    return result


def company_detail(companyid: int, config) -> dict | None:
    """Everything the company editor shows: name, effective settings, global limits, courses."""
    name = company_settings.company_name(companyid)
    if name is None:
        return None
    settings = company_settings.load(companyid)
    return {
        "id": int(companyid),
        "name": name,
        "settings": settings,
        "global_rate_limit": int(config.rate_limit),
        "global_max_records": int(config.max_records),
        "courses": course_access(companyid, settings),
    }


def course_switch_assignments(rule: str, before: dict[int, bool], after: dict[int, bool]) -> dict[str, str]:
    """The ``course_<id>`` settings that turn the enabled courses ``before`` into ``after``.

    Under the ``company_course`` rule no switch is stored yet, and storing a single ``course_<id>``
    would change the rule for every other course (only courses set to 1 would remain): so every course
    that stays enabled is written as 1 too. Under the ``settings`` rule only the changed ones are written.
    """
    changed = {c for c in after if after[c] != before.get(c, False)}
    if not changed:
        return {}
    if rule == "settings":
        return {f"course_{c}": "1" if after[c] else "0" for c in sorted(changed)}
    out = {f"course_{c}": "1" for c in sorted(c for c, on in after.items() if on)}
    out.update({f"course_{c}": "0" for c in sorted(changed) if not after[c]})
    return dict(sorted(out.items()))
