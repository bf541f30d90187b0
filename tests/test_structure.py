"""One definition per rule: the full-sync rule shared by the worker and the console, the Config's
typed attributes against the settings registry, the one URL redactor, the cleanup retention rules."""

from __future__ import annotations

import threading
import typing

import pytest

from alxapi import config as config_module
from alxapi.config import SETTINGS, Config, load_config
from alxapi.database import connect
from alxapi.errors import UserError
from alxapi.ops import cleanup, monitor
from alxapi.redact import redact_url
from alxapi.reporting.runner import full_sync_due, run_sync
from alxapi.worker.jobs import JobContext
from alxapi.worker.jobs import sync as sync_job
from models.plugin import Alert, ApiLog, Cache, SyncRun

HOUR = 3600
NOW = 1_700_000_000


def two_companies(b) -> None:
    for cid, course, users in ((1, 10, range(100, 103)), (3, 30, range(200, 203))):
        b.company(cid)
        b.course(course, modules=1)
        b.company_course(cid, course)
        for uid in users:
            b.user(uid)
            b.member(cid, uid)
            b.enrol(uid, course)


def test_a_full_sync_of_one_company_does_not_make_the_console_predict_incremental(moodle):
    config = load_config(flags={"full_sync_hours": 24, "auto_sync_hours": 1}, env={}, search_paths=[])
    two_companies(moodle)
    assert run_sync(moodle.db, config, clock=lambda: NOW, full=True).mode == "full"
    # A day later an operator runs `alx sync --full --company 3`: that is no full sync of the site.
    later = NOW + 25 * HOUR
    assert run_sync(moodle.db, config, clock=lambda: later, full=True, companyid=3).status == "success"
    assert full_sync_due(later, 24)
    assert monitor.next_sync(later, 1, 24).mode == "full"
    # The worker decides by the same rule: its run is full.
    sync_job(JobContext(config, moodle.db, lambda: later, threading.Event()))
    latest = SyncRun.select().order_by(SyncRun.id.desc()).first()
    assert (latest.mode, latest.companyid) == ("full", 0)
    # Right after the worker's full sync, both say incremental.
    assert not full_sync_due(later + 60, 24)
    assert monitor.next_sync(later + 60, 1, 24).mode == "incremental"


def test_a_partial_full_sync_counts_its_rest_is_queued(moodle):
    SyncRun.insert(mode="full", status="partial", companyid=0, timestarted=NOW - HOUR).execute()
    assert not full_sync_due(NOW, 24)
    assert full_sync_due(NOW + 23 * HOUR, 24)


def test_config_has_a_typed_attribute_for_every_setting_and_no_other():
    hints = typing.get_type_hints(Config)
    expected = {
        "int": int,
        "float": float,
        "bool": bool,
        "str": str,
        "enum": str,
        "path": str,
        "list": tuple[str, ...],
    }
    assert set(hints) == {s.name for s in SETTINGS}
    for setting in SETTINGS:
        assert hints[setting.name] == expected[setting.type], setting.name
    cfg = load_config(env={}, search_paths=[])
    for setting in SETTINGS:
        assert isinstance(
            getattr(cfg, setting.name),
            hints[setting.name].__origin__
            if hasattr(hints[setting.name], "__origin__")
            else hints[setting.name],
        )
    assert config_module.SETTINGS is SETTINGS


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://alx@db.example/moodle?password=sekrit&sslmode=require",
            "postgresql://alx@db.example/moodle?password=***&sslmode=require",
        ),
        ("mysql://alx:sekrit@db.example/moodle", "mysql://alx:***@db.example/moodle"),
        ("https://hooks.example/x?token=sekrit", "https://hooks.example/x?token=***"),
    ],
)
def test_one_redactor_hides_passwords_in_the_authority_and_the_query(url, shown):
    assert redact_url(url) == shown


def test_connection_errors_never_show_a_password_from_the_query_string():
    config = load_config(
        flags={"database_url": "mysql://alx@127.0.0.1:1/moodle?password=sekrit&connect_timeout=2"},
        env={},
        search_paths=[],
    )
    with pytest.raises(UserError) as caught:
        connect(config)
    assert "sekrit" not in str(caught.value)
    assert "password=***" in str(caught.value)


def test_cleanup_keeps_the_last_100_runs_and_never_a_running_one(moodle):
    cutoff_days = 90
    old = NOW - (cutoff_days + 10) * 86_400
    # 150 runs, all past retention; the oldest of them is still marked running (a crashed sync).
    SyncRun.insert(mode="full", status="running", timestarted=old - 1000).execute()
    SyncRun.insert_many(
        [{"mode": "incremental", "status": "success", "timestarted": old + i} for i in range(149)]
    ).execute()
    recent = SyncRun.insert(mode="incremental", status="success", timestarted=NOW - 60).execute()
    ApiLog.insert_many([{"endpoint": "x", "timecreated": t} for t in (old, NOW - 60)]).execute()
    Alert.insert_many(
        [
            {
                "alert_type": "test",
                "severity": "low",
                "subject": s,
                "message": "m",
                "timecreated": old,
                "resolved": r,
            }
            for s, r in (("a", 1), ("b", 0))
        ]
    ).execute()
    Cache.insert_many(
        [
            {"cache_key": k, "companyid": 1, "cache_data": "{}", "timecreated": NOW - 10, "expires_at": e}
            for k, e in (("gone", NOW - 1), ("kept", NOW + 60))
        ]
    ).execute()

    counts = cleanup.cleanup(moodle.db, now=NOW, retention_days=cutoff_days)

    kept = list(SyncRun.select().order_by(SyncRun.id))
    assert len(kept) == 101  # the newest 100 plus the running one
    assert kept[0].status == "running"
    assert kept[-1].id == recent
    assert [r.timestarted for r in kept[1:-1]] == [old + i for i in range(50, 149)]
    assert counts == {"cache": 1, "logs": 1, "sync_runs": 50, "alerts": 1, "report_runs": 0, "counters": 0}
    assert [a.subject for a in Alert.select()] == ["b"]  # an open alert is never deleted
    assert [c.cache_key for c in Cache.select()] == ["kept"]
    # Run again: nothing more to delete.
    assert cleanup.cleanup(moodle.db, now=NOW, retention_days=cutoff_days) == dict.fromkeys(counts, 0)
