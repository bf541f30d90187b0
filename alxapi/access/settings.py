"""Per-company settings (table ``local_alx_api_settings``) with the product's defaults (SPEC §4.1, §7).

Keys: ``field_<name>`` (0/1, default 1) switch a response field; ``course_<id>`` (0/1) switch a
course; ``sync_mode`` 0 auto, 1 always incremental, 2 always full, 3 disabled; ``sync_window_hours``;
``cache_ttl_minutes``; ``rate_limit`` and ``max_records`` (absent = the global configuration).

Course rule: if the company has any ``course_<id>`` settings, its enabled courses are exactly those
set to 1 (none set to 1 means no course); otherwise they are the company's courses in IOMAD's
``company_course``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from models.db import database, dialect
from models.iomad import Company, CompanyCourse
from models.moodle import Course
from models.plugin import Setting

from .. import audit

log = logging.getLogger(__name__)

# Response fields in the order the API sends them (SPEC §4.1).
FIELDS = (
    "userid",
    "firstname",
    "lastname",
    "email",
    "username",
    "courseid",
    "coursename",
    "timecompleted",
    "timecompleted_unix",
    "timestarted",
    "timestarted_unix",
    "percentage",
    "status",
)

# name: (default, minimum, maximum, meaning). A default of None means "the global configuration".
SCALARS: dict[str, tuple[int | None, int, int, str]] = {
    "sync_mode": (0, 0, 3, "0 auto, 1 always incremental, 2 always full, 3 disabled"),
    "sync_window_hours": (24, 1, 8760, "hours after which auto mode serves a full pass"),
    "cache_ttl_minutes": (60, 0, 1440, "minutes an API response stays cached (0 = no cache)"),
    "rate_limit": (None, 0, 1_000_000, "API calls per day (0 = unlimited; default: global rate_limit)"),
    "max_records": (None, 1, 10_000, "largest page (default: global max_records)"),
}
SYNC_MODES = {0: "auto", 1: "always incremental", 2: "always full", 3: "disabled"}

_COURSE_RE = re.compile(r"course_([0-9]{1,18})")
_INT_RE = re.compile(r"[+-]?[0-9]{1,19}")

VALID_KEYS_HELP = (
    "Valid keys: field_<name>=0|1 (name: "
    + ", ".join(FIELDS)
    + "), course_<courseid>=0|1, "
    + ", ".join(f"{k}={lo}..{hi}" for k, (_, lo, hi, _m) in SCALARS.items())
    + " (rate_limit 0 = unlimited); KEY=default removes an override."
)


class SettingError(ValueError):
    """Settings refused; the message lists every problem and the valid keys. Nothing was saved."""


def company_name(companyid: int) -> str | None:
    """The IOMAD company's name, or None when there is no such company."""
    row = Company.select(Company.id, Company.name).where(Company.id == companyid).first()
    return None if row is None else row.name


@dataclass(frozen=True)
class CompanySettings:
    companyid: int
    fields: tuple[str, ...]  # enabled response fields, in API order
    courses: tuple[int, ...]  # enabled course ids (the course rule applied), ascending
    course_rule: str  # "settings" (course_<id> rows exist) or "company_course"
    course_switches: tuple[tuple[int, int], ...]  # stored (courseid, 0|1), ascending
    sync_mode: int = 0
    sync_window_hours: int = 24
    cache_ttl_minutes: int = 60
    rate_limit: int | None = None  # None: the global configuration
    max_records: int | None = None  # None: the global configuration
    stored: tuple[tuple[str, int], ...] = ()  # every stored (setting_name, value), by name
    # The company's data version and the cache epoch when read with the settings in one round trip
    # (the API: :func:`alxapi.api.feed.company_state`); None when loaded without them.
    data_version: int | None = None
    cache_epoch: int | None = None

    def is_default(self, key: str) -> bool:
        """Whether ``key`` has no (valid) stored override."""
        return key not in dict(self.stored)


def _stored(companyid: int) -> dict[str, int]:
    query = (
        Setting.select(Setting.setting_name, Setting.setting_value)
        .where(Setting.companyid == companyid)
        .tuples()
    )
    return {name: int(value) for name, value in query}


def _company_courses(companyid: int) -> list[int]:
    query = (
        CompanyCourse.select(CompanyCourse.courseid)
        .distinct()
        .where(CompanyCourse.companyid == companyid)
        .tuples()
    )
    return sorted({int(c) for (c,) in query})


def _apply_course_rule(
    stored: dict[str, int], company_courses: Callable[[], list[int]]
) -> tuple[str, list[int], dict[int, int]]:
    switches = {int(m.group(1)): value for name, value in stored.items() if (m := _COURSE_RE.fullmatch(name))}
    if switches:
        return "settings", sorted(c for c, v in switches.items() if v == 1), switches
    return "company_course", company_courses(), switches


def enabled_courses(companyid: int) -> list[int]:
    """The courses the company's API clients see (the course rule of SPEC §4.1)."""
    return _apply_course_rule(_stored(companyid), lambda: _company_courses(companyid))[1]


def _valid(name: str, value: int) -> bool:
    if name.startswith("field_") or _COURSE_RE.fullmatch(name):
        return value in (0, 1)
    if name in SCALARS:
        _, lo, hi, _m = SCALARS[name]
        return lo <= value <= hi
    return False


def load(companyid: int) -> CompanySettings:
    """The company's effective settings: stored values over defaults (two queries)."""
    return from_rows(companyid, _stored(companyid), lambda: _company_courses(companyid))


def from_rows(
    companyid: int, stored: dict[str, int], company_courses: Callable[[], list[int]], **versions
) -> CompanySettings:
    """The effective settings from the stored rows and the company's IOMAD courses (read only when
    no course_<id> setting exists)."""
    for name, value in list(stored.items()):
        known = (
            name in SCALARS
            or _COURSE_RE.fullmatch(name)
            or (name.startswith("field_") and name[6:] in FIELDS)
        )
        if known and not _valid(name, value):
            # Written by something else (the PHP plugin, a hand edit): ignore rather than misbehave.
            log.warning("company %s: ignoring out-of-range setting %s=%s", companyid, name, value)
            del stored[name]
    rule, courses, switches = _apply_course_rule(stored, company_courses)
    scalars: dict[str, Any] = {name: stored.get(name, default) for name, (default, *_rest) in SCALARS.items()}
    return CompanySettings(
        companyid=int(companyid),
        fields=tuple(f for f in FIELDS if stored.get(f"field_{f}", 1) == 1),
        courses=tuple(courses),
        course_rule=rule,
        course_switches=tuple(sorted(switches.items())),
        stored=tuple(sorted(stored.items())),
        **scalars,
        **versions,
    )


def effective_rate_limit(settings: CompanySettings, config) -> int:
    """Requests per token per day; 0 means unlimited. The company's value wins over the global one."""
    return settings.rate_limit if settings.rate_limit is not None else int(config.rate_limit)


def effective_max_records(settings: CompanySettings, config) -> int:
    return settings.max_records if settings.max_records is not None else int(config.max_records)


def describe(settings: CompanySettings, config=None) -> list[dict]:
    """Every setting key (fields, scalars, stored course switches) with its value and whether it is default.

    ``effective`` resolves rate_limit/max_records against ``config`` when given.
    """
    stored = dict(settings.stored)
    rows = []
    for f in FIELDS:
        key = f"field_{f}"
        rows.append(
            {
                "key": key,
                "value": 1 if f in settings.fields else 0,
                "default": key not in stored,
                "effective": 1 if f in settings.fields else 0,
            }
        )
    for key in SCALARS:
        value = getattr(settings, key)
        effective = value
        if config is not None and key == "rate_limit":
            effective = effective_rate_limit(settings, config)
        elif config is not None and key == "max_records":
            effective = effective_max_records(settings, config)
        rows.append({"key": key, "value": value, "default": key not in stored, "effective": effective})
    for courseid, value in settings.course_switches:
        rows.append({"key": f"course_{courseid}", "value": value, "default": False, "effective": value})
    return rows


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``["rate_limit=500", "field_email=0"]`` -> a dict; refuses items without ``=`` and clashing repeats."""
    result: dict[str, str] = {}
    bad = []
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not key:
            bad.append(f"{item!r} is not KEY=VALUE")
        elif key in result and result[key] != value:
            bad.append(f"{key} given twice ({result[key]} and {value})")
        else:
            result[key] = value
    if bad:
        raise SettingError("; ".join(bad) + ". " + VALID_KEYS_HELP)
    return result


def _check(key: str, text: str) -> tuple[int | None, str | None]:
    """(parsed value or None for ``default``, problem or None)."""
    if key.startswith("field_"):
        if key[6:] not in FIELDS:
            return None, f"{key}: unknown field (fields: {', '.join(FIELDS)})"
        lo, hi = 0, 1
    elif key.startswith("course_"):
        if not _COURSE_RE.fullmatch(key):
            return None, f"{key}: a course key is course_<courseid>, e.g. course_12"
        lo, hi = 0, 1
    elif key in SCALARS:
        _, lo, hi, _m = SCALARS[key]
    else:
        return None, f"{key}: unknown key"
    if text.lower() == "default":
        return None, None
    if not _INT_RE.fullmatch(text):
        return None, f"{key}={text!r}: not a whole number (allowed {lo}..{hi}, or default)"
    value = int(text)
    if not lo <= value <= hi:
        return None, f"{key}={value}: out of range (allowed {lo}..{hi}, or default)"
    return value, None


def set_values(
    companyid: int, assignments: dict[str, str], actor: str, now: int
) -> list[tuple[str, int | None, int | None]]:
    """Validate and save settings atomically; return the changes as (key, old, new) (None = default).

    Every value is checked first: if any is refused, :class:`SettingError` lists them all and nothing
    is saved. ``VALUE`` ``default`` removes the override. Each change is audited with old -> new.
    """
    if company_name(companyid) is None:
        raise SettingError(f"no company with id {companyid} in the IOMAD company table")
    if not assignments:
        raise SettingError("nothing to set: give KEY=VALUE pairs. " + VALID_KEYS_HELP)
    parsed: dict[str, int | None] = {}
    problems = []
    for key, text in assignments.items():
        key = key.strip().lower()
        value, problem = _check(key, str(text).strip())
        if problem:
            problems.append(problem)
        else:
            parsed[key] = value
    new_courses = [int(k[7:]) for k, v in parsed.items() if k.startswith("course_") and v is not None]
    if new_courses:
        existing = {int(c) for (c,) in Course.select(Course.id).where(Course.id.in_(new_courses)).tuples()}
        problems.extend(f"course_{c}: no course with id {c}" for c in new_courses if c not in existing)
    if problems:
        raise SettingError("refused, nothing saved: " + "; ".join(problems) + ". " + VALID_KEYS_HELP)

    changes: list[tuple[str, int | None, int | None]] = []
    with database.atomic():
        current = _stored(companyid)
        for key in sorted(parsed):
            old, new = current.get(key), parsed[key]
            if old == new:
                continue
            if new is None:
                Setting.delete().where(Setting.companyid == companyid, Setting.setting_name == key).execute()
            else:
                _upsert(companyid, key, new, now)
            audit.record(
                actor, "company.set", f"company:{companyid}", {"setting": key, "old": old, "new": new}, now
            )
            changes.append((key, old, new))
    return changes


def _upsert(companyid: int, key: str, value: int, now: int) -> None:
    conflict: dict[str, Any] = {"update": {Setting.setting_value: value, Setting.timemodified: int(now)}}
    if dialect() != "mysql":  # MySQL's ON DUPLICATE KEY UPDATE names no conflict target
        conflict["conflict_target"] = [Setting.companyid, Setting.setting_name]
    (
        Setting.insert(
            companyid=companyid,
            setting_name=key,
            setting_value=value,
            timecreated=int(now),
            timemodified=int(now),
        )
        .on_conflict(**conflict)
        .execute()
    )
