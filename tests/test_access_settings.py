"""Per-company settings (SPEC §4.1, §7): defaults, overrides, validation (all or nothing), the course
rule both ways, and the audit trail, on every backend.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from alxapi.access.settings import (
    FIELDS,
    CompanySettings,
    SettingError,
    describe,
    effective_max_records,
    effective_rate_limit,
    enabled_courses,
    load,
    parse_assignments,
    set_values,
)
from alxapi.config import load_config
from models.plugin import Audit, Setting

NOW = 1_700_000_000
GLOBAL = SimpleNamespace(rate_limit=100, max_records=1000)


@pytest.fixture
def b(moodle):
    builder = moodle
    builder.now = NOW
    builder.company(1)
    builder.company(2)
    for cid in (10, 11, 12):
        builder.course(cid)
    builder.company_course(1, 11)
    builder.company_course(1, 10)
    builder.company_course(1, 10)  # IOMAD has no unique key here: one course, two rows
    builder.company_course(2, 12)
    yield builder


def stored(companyid: int = 1) -> dict[str, int]:
    return {
        s.setting_name: int(s.setting_value) for s in Setting.select().where(Setting.companyid == companyid)
    }


def test_defaults(b):
    s = load(1)
    assert s == CompanySettings(
        companyid=1,
        fields=FIELDS,
        courses=(10, 11),
        course_rule="company_course",
        course_switches=(),
        sync_mode=0,
        sync_window_hours=24,
        cache_ttl_minutes=60,
        rate_limit=None,
        max_records=None,
        stored=(),
    )
    assert FIELDS[0] == "userid" and FIELDS[-1] == "status" and len(FIELDS) == 13
    assert effective_rate_limit(s, GLOBAL) == 100 and effective_max_records(s, GLOBAL) == 1000
    config = load_config(flags={"rate_limit": 250}, env={}, search_paths=[])
    assert effective_rate_limit(s, config) == 250 and effective_max_records(s, config) == 1000
    assert all(row["default"] for row in describe(s, GLOBAL))
    assert load(99).fields == FIELDS  # load never fails (the API resolves companies first)


def test_overrides_and_audit(b):
    changes = set_values(
        1,
        {
            "rate_limit": "500",
            "field_email": "0",
            "sync_mode": "2",
            "max_records": "50",
            "cache_ttl_minutes": "0",
            "sync_window_hours": "8760",
        },
        "alice",
        NOW,
    )
    assert sorted(changes) == [
        ("cache_ttl_minutes", None, 0),
        ("field_email", None, 0),
        ("max_records", None, 50),
        ("rate_limit", None, 500),
        ("sync_mode", None, 2),
        ("sync_window_hours", None, 8760),
    ]
    s = load(1)
    assert "email" not in s.fields and s.fields == tuple(f for f in FIELDS if f != "email")
    assert (s.sync_mode, s.sync_window_hours, s.cache_ttl_minutes, s.rate_limit, s.max_records) == (
        2,
        8760,
        0,
        500,
        50,
    )
    assert effective_rate_limit(s, GLOBAL) == 500 and effective_max_records(s, GLOBAL) == 50
    assert not s.is_default("rate_limit") and s.is_default("field_userid")
    assert load(2).rate_limit is None  # other companies untouched

    # Change one, remove one, repeat one: only real changes are saved and audited.
    Audit.delete().execute()
    changes = set_values(1, {"rate_limit": "0", "field_email": "default", "sync_mode": "2"}, "bob", NOW + 5)
    assert sorted(changes) == [("field_email", 0, None), ("rate_limit", 500, 0)]
    s = load(1)
    assert s.rate_limit == 0 and effective_rate_limit(s, GLOBAL) == 0  # 0 = unlimited, not the global value
    assert "email" in s.fields and "field_email" not in stored()
    entries = sorted(
        ((e.actor, e.action, e.target, json.loads(e.details), e.timecreated) for e in Audit.select()),
        key=lambda e: e[3]["setting"],
    )
    assert entries == [
        ("bob", "company.set", "company:1", {"setting": "field_email", "old": 0, "new": None}, NOW + 5),
        ("bob", "company.set", "company:1", {"setting": "rate_limit", "old": 500, "new": 0}, NOW + 5),
    ]
    row = Setting.get(Setting.companyid == 1, Setting.setting_name == "rate_limit")
    assert (row.timecreated, row.timemodified) == (NOW, NOW + 5)  # updated in place (upsert)
    assert set_values(1, {"rate_limit": "0"}, "bob", NOW + 9) == []  # nothing changed, nothing audited
    assert Audit.select().count() == 2


def test_rate_limit_upper_bound_fits(b):
    set_values(1, {"rate_limit": "1000000"}, "alice", NOW)
    assert load(1).rate_limit == 1_000_000


def test_invalid_values_are_refused_and_nothing_is_saved(b):
    set_values(1, {"sync_mode": "1"}, "alice", NOW)
    before, audits = stored(), Audit.select().count()
    for bad, words in [
        ({"rate_limit": "-5"}, ["rate_limit=-5", "0..1000000"]),
        ({"sync_window_hours": "0"}, ["sync_window_hours=0", "1..8760"]),
        ({"max_records": "lots"}, ["max_records", "not a whole number"]),
        ({"max_records": "10001"}, ["1..10000"]),
        ({"cache_ttl_minutes": "1.5"}, ["cache_ttl_minutes", "whole number"]),
        ({"sync_mode": "4"}, ["0..3"]),
        ({"bogus": "1"}, ["bogus: unknown key"]),
        ({"field_shoesize": "1"}, ["field_shoesize", "unknown field"]),
        ({"field_email": "2"}, ["field_email=2", "0..1"]),
        ({"course_abc": "1"}, ["course_abc"]),
        ({"course_999": "1"}, ["no course with id 999"]),
        ({}, ["nothing to set"]),
        # one bad value spoils the lot; every problem is listed at once
        (
            {"rate_limit": "500", "field_email": "0", "sync_window_hours": "0", "x": "1"},
            ["sync_window_hours=0", "x: unknown key"],
        ),
    ]:
        with pytest.raises(SettingError) as info:
            set_values(1, bad, "alice", NOW + 1)
        message = str(info.value)
        for word in words:
            assert word in message, (bad, message)
        if bad:
            assert "Valid keys" in message and "rate_limit=0..1000000" in message and "default" in message
        assert stored() == before and Audit.select().count() == audits, bad
    with pytest.raises(SettingError, match="no company with id 99"):
        set_values(99, {"rate_limit": "5"}, "alice", NOW)


def test_parse_assignments():
    assert parse_assignments(["Rate_Limit=5", "field_email = 0", "course_3=default"]) == {
        "rate_limit": "5",
        "field_email": "0",
        "course_3": "default",
    }
    assert parse_assignments(["sync_mode=1", "sync_mode=1"]) == {"sync_mode": "1"}
    with pytest.raises(SettingError, match="'rate_limit' is not KEY=VALUE"):
        parse_assignments(["rate_limit"])
    with pytest.raises(SettingError, match="sync_mode given twice"):
        parse_assignments(["sync_mode=1", "sync_mode=2"])


def test_course_rule_both_ways(b):
    # No course_<id> settings: the company's IOMAD courses (deduplicated).
    assert enabled_courses(1) == [10, 11] and enabled_courses(2) == [12]
    assert load(1).course_rule == "company_course"
    # Any course_<id> setting switches to the settings: exactly the courses set to 1.
    set_values(1, {"course_12": "1", "course_10": "0"}, "alice", NOW)
    assert enabled_courses(1) == [12]
    s = load(1)
    assert (s.courses, s.course_rule, s.course_switches) == ((12,), "settings", ((10, 0), (12, 1)))
    assert {r["key"]: r["value"] for r in describe(s)}["course_12"] == 1
    # Settings present but none set to 1: no course at all.
    set_values(1, {"course_12": "0"}, "alice", NOW)
    assert enabled_courses(1) == [] and load(1).courses == ()
    # Removing every course_<id> setting returns to company_course.
    set_values(1, {"course_12": "default", "course_10": "default"}, "alice", NOW)
    assert enabled_courses(1) == [10, 11]
    assert enabled_courses(2) == [12]  # never affected by company 1


def test_out_of_range_stored_values_fall_back_to_defaults(b):
    # Rows written by the PHP plugin or by hand are not trusted blindly.
    Setting.insert_many(
        [
            dict(companyid=1, setting_name="sync_window_hours", setting_value=0),
            dict(companyid=1, setting_name="field_email", setting_value=7),
            dict(companyid=1, setting_name="rate_limit", setting_value=-1),
            dict(
                companyid=1, setting_name="cache_enabled", setting_value=0
            ),  # the plugin's dead key: ignored
            dict(companyid=1, setting_name="max_records", setting_value=200),
        ]
    ).execute()
    s = load(1)
    assert (s.sync_window_hours, s.rate_limit, s.max_records) == (24, None, 200)
    assert "email" in s.fields and s.is_default("sync_window_hours")
