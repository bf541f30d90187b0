"""The monitoring aggregates equal what the database holds, on every backend.

Each test inserts known rows, computes the expected figures from those rows in plain Python and
compares them with :mod:`alxapi.ops.monitor` (which computes them in SQL).
"""

from __future__ import annotations

import math
import random
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from alxapi.alerts.lifecycle import raise_alert
from alxapi.config import load_config
from alxapi.demo.traffic import seed_history
from alxapi.ops import heartbeat, monitor
from alxapi.ops.heartbeat import beat
from models.plugin import ApiLog, ApiToken, Reporting, SyncRun, SyncStatus

NOW = 1_772_445_600  # 2026-03-02 10:00:00 UTC
HOUR, DAY = 3600, 86_400
CODES = (
    "",
    "",
    "",
    "",
    "",
    "",
    "invalidtoken",
    "accessexception",
    "ratelimitexceeded",
    "invalidparameter",
    "toomanyfailures",
)
IPS = ("10.0.0.1", "10.0.0.2", "203.0.113.9", "198.51.100.4")


def _log_rows(seed: int = 1, n: int = 400) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        code = rng.choice(CODES)
        company = 0 if code in ("invalidtoken", "toomanyfailures") else rng.choice((1, 2, 3))
        rows.append(
            {
                "timecreated": rng.randint(NOW - 3 * DAY, NOW + HOUR),
                "companyid": company,
                "token_ref": ""
                if company == 0
                else f"m:{company}"
                if rng.random() < 0.8
                else f"w:{company + 10}",
                "endpoint": rng.choice(("get_course_progress", "v1_course_progress")),
                "ip_address": rng.choice(IPS),
                "error_code": code,
                "cache_hit": int(code == "" and rng.random() < 0.6),
                "record_count": 0 if code else rng.choice((0, 5, 100)),
                "response_time_ms": round(rng.uniform(0.5, 900), 2),
                "http_status": 200 if not code else 400,
                "error_message": f"msg {code}" if code else None,
            }
        )
    # Exactly on the edges of the windows used below.
    for when in (NOW - DAY, NOW, NOW + 1):
        rows.append({**rows[0], "timecreated": when})
    return rows


@pytest.fixture
def logs(moodle):
    for cid, name in ((1, "Alpha"), (2, "Beta"), (3, "Gamma")):
        moodle.company(cid, name=name)
    for cid in (1, 2, 3):
        ApiToken.insert(
            id=cid, token_hash=f"{cid:064x}", name=f"token {cid}", companyid=cid, timecreated=NOW
        ).execute()
    rows = _log_rows()
    ApiLog.insert_many(rows).execute()
    return rows


def _in(rows, since, until, companyid=None):
    return [
        r
        for r in rows
        if since <= r["timecreated"] < until and (companyid is None or r["companyid"] == companyid)
    ]


WINDOWS = [
    (NOW - DAY, NOW),
    (NOW - DAY, NOW + 1),
    (NOW - 3 * DAY, NOW + 2 * HOUR),
    (NOW + 5 * HOUR, NOW + 6 * HOUR),
]


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("companyid", [None, 2])
def test_api_window_equals_the_log(logs, window, companyid):
    since, until = window
    rows = _in(logs, since, until, companyid)
    got = monitor.api_window(since, until, companyid)
    errors = [r for r in rows if r["error_code"]]
    served = len(rows) - len(errors)
    hits = sum(r["cache_hit"] for r in rows)
    assert (got.calls, got.errors, got.cache_hits) == (len(rows), len(errors), hits)
    assert got.records == sum(r["record_count"] for r in rows)
    if rows:
        assert got.avg_response_ms == pytest.approx(
            sum(r["response_time_ms"] for r in rows) / len(rows), abs=0.01
        )
        assert got.error_rate == pytest.approx(100 * len(errors) / len(rows), abs=0.01)
        assert got.success_rate == pytest.approx(100 - 100 * len(errors) / len(rows), abs=0.01)
    else:
        assert got.avg_response_ms is None and got.error_rate is None and got.success_rate is None
    if served:
        assert got.cache_hit_rate == pytest.approx(100 * hits / served, abs=0.01)
    else:
        assert got.cache_hit_rate is None


def test_calls_by_company_and_top_consumers(logs):
    since, until = NOW - DAY, NOW + 1
    rows = _in(logs, since, until)
    got = monitor.calls_by_company(since, until)
    expected = {}
    for r in rows:
        e = expected.setdefault(r["companyid"], {"calls": 0, "errors": 0, "records": 0, "hits": 0, "last": 0})
        e["calls"] += 1
        e["errors"] += bool(r["error_code"])
        e["records"] += r["record_count"]
        e["hits"] += r["cache_hit"]
        e["last"] = max(e["last"], r["timecreated"])
    assert {
        c.companyid: {
            "calls": c.calls,
            "errors": c.errors,
            "records": c.records,
            "hits": c.cache_hits,
            "last": c.last_call,
        }
        for c in got
    } == expected
    assert [c.calls for c in got] == sorted((e["calls"] for e in expected.values()), reverse=True)
    assert {c.companyid: c.company for c in got} == {0: "(none)", 1: "Alpha", 2: "Beta", 3: "Gamma"}
    top = monitor.calls_by_company(since, until, limit=2)
    assert top == got[:2]


@pytest.mark.parametrize("threshold", [0, 5])
def test_failed_auth_by_ip(logs, threshold):
    since, until = NOW - 2 * DAY, NOW
    rows = _in(logs, since, until)
    expected = {}
    for r in rows:
        if r["error_code"] in ("invalidtoken", "accessexception", "toomanyfailures"):
            e = expected.setdefault(r["ip_address"], [0, 0])
            e[r["error_code"] == "toomanyfailures"] += 1
    expected = {ip: tuple(v) for ip, v in expected.items() if v[0] > threshold}
    got = monitor.failed_auth_by_ip(since, until, threshold)
    assert {i.ip_address: (i.failures, i.throttled) for i in got} == expected
    assert [i.failures for i in got] == sorted((v[0] for v in expected.values()), reverse=True)


def test_rate_limit_violations_name_tokens_and_companies(logs):
    since, until = NOW - 3 * DAY, NOW + 2 * HOUR
    expected = {}
    for r in _in(logs, since, until):
        if r["error_code"] == "ratelimitexceeded":
            key = (r["token_ref"], r["companyid"])
            expected[key] = expected.get(key, 0) + 1
    got = monitor.rate_limit_violations(since, until)
    assert {(v.token_ref, v.companyid): v.count for v in got} == expected
    for v in got:
        assert v.token_name == (f"token {v.companyid}" if v.token_ref.startswith("m:") else "")
        assert v.company == {1: "Alpha", 2: "Beta", 3: "Gamma"}[v.companyid]
    assert sum(v.count for v in got) == sum(expected.values())


def test_hourly_series_and_p95(logs):
    hour = (NOW // HOUR) * HOUR
    since, until = hour - 23 * HOUR, hour + HOUR
    series = monitor.response_time_series(since, until)
    assert [p.start for p in series] == list(range(since, until, HOUR))
    for point in series:
        rows = _in(logs, point.start, point.start + HOUR)
        assert point.calls == len(rows)
        assert point.errors == sum(bool(r["error_code"]) for r in rows)
        if rows:
            assert point.avg_response_ms == pytest.approx(
                sum(r["response_time_ms"] for r in rows) / len(rows), abs=0.01
            )
        else:
            assert point.avg_response_ms is None
    rows = _in(logs, since, until)
    times = sorted(r["response_time_ms"] for r in rows)
    assert monitor.response_percentile(since, until, 95) == pytest.approx(
        times[math.ceil(0.95 * len(times)) - 1]
    )
    assert monitor.response_percentile(since, until, 50) == pytest.approx(
        times[math.ceil(0.5 * len(times)) - 1]
    )
    assert monitor.response_percentile(NOW + 9 * DAY, NOW + 10 * DAY) is None


def test_recent_errors_and_errors_by_code(logs):
    since, until = NOW - DAY, NOW + 1
    rows = [r for r in _in(logs, since, until) if r["error_code"]]
    got = monitor.recent_errors(since, until, limit=7)
    assert [e.timecreated for e in got] == sorted((r["timecreated"] for r in rows), reverse=True)[:7]
    assert all(e.error_code and e.message == f"msg {e.error_code}" for e in got)
    by_code = {}
    for r in rows:
        by_code[r["error_code"]] = by_code.get(r["error_code"], 0) + 1
    assert monitor.errors_by_code(since, until) == by_code
    assert monitor.distinct_tokens(since, until) == len(
        {r["token_ref"] for r in _in(logs, since, until) if r["token_ref"]}
    )


def test_sync_runs_by_local_day_across_a_dst_change(moodle):
    tz = "Europe/Paris"  # summer time begins 2026-03-29 02:00 local: that day has 23 hours
    zone = ZoneInfo(tz)
    rng = random.Random(3)
    start = int(datetime(2026, 3, 26, 0, 0, tzinfo=zone).timestamp())
    end = int(datetime(2026, 4, 1, 12, 0, tzinfo=zone).timestamp())
    runs = []
    for _ in range(300):
        when = rng.randint(start - DAY, end + DAY)
        runs.append(
            {
                "mode": "incremental",
                "status": rng.choice(("success", "success", "failed", "partial")),
                "timestarted": when,
            }
        )
    # Right at local midnights (either side) and the DST gap.
    for day in (27, 28, 29, 30):
        midnight = int(datetime(2026, 3, day, tzinfo=zone).timestamp())
        runs += [
            {"mode": "full", "status": "success", "timestarted": midnight},
            {"mode": "full", "status": "failed", "timestarted": midnight - 1},
        ]
    SyncRun.insert_many(runs).execute()
    got = monitor.sync_runs_by_day(start, end, tz)
    expected = {}
    for r in runs:
        if start <= r["timestarted"] < end:
            day = datetime.fromtimestamp(r["timestarted"], zone).strftime("%Y-%m-%d")
            expected.setdefault(day, {"success": 0, "failed": 0, "partial": 0, "running": 0})[
                r["status"]
            ] += 1
    assert [d.day for d in got] == [f"2026-03-{d}" for d in range(26, 32)] + ["2026-04-01"]
    for d in got:
        assert {
            "success": d.success,
            "failed": d.failed,
            "partial": d.partial,
            "running": d.running,
        } == expected.get(d.day, {"success": 0, "failed": 0, "partial": 0, "running": 0})
        assert d.day_start == int(datetime.strptime(d.day, "%Y-%m-%d").replace(tzinfo=zone).timestamp())
    assert got[3].day == "2026-03-29" and got[4].day_start - got[3].day_start == 23 * HOUR


def test_last_and_next_sync_and_failure_streak(moodle):
    assert monitor.last_run() is None
    assert monitor.next_sync(NOW, 1, 24) == monitor.NextSync(NOW, "full")
    for run in (
        {"mode": "full", "status": "success", "timestarted": NOW - 30 * HOUR, "created": 5},
        {"mode": "incremental", "status": "success", "timestarted": NOW - 3 * HOUR, "updated": 2},
        {"mode": "incremental", "status": "failed", "timestarted": NOW - 2 * HOUR, "error": "boom"},
        {"mode": "incremental", "status": "failed", "timestarted": NOW - HOUR, "error": "boom again"},
    ):
        SyncRun.insert(**run).execute()
    last = monitor.last_run()
    assert (last.status, last.timestarted, last.error) == ("failed", NOW - HOUR, "boom again")
    assert monitor.last_run(status=("success",)).timestarted == NOW - 3 * HOUR
    assert monitor.consecutive_failures() == 2
    # The last full sync is 30 h old: the next run (the latest start + 1 h) is due as a full one.
    assert monitor.next_sync(NOW, 1, 24) == monitor.NextSync(NOW, "full")
    assert monitor.next_sync(NOW, 2, 48) == monitor.NextSync(NOW + HOUR, "incremental")
    # Fractions of an hour count (the demo's worker syncs every 30 s).
    assert monitor.next_sync(NOW, 30 / 3600, 48) == monitor.NextSync(NOW - HOUR + 30, "incremental")
    # A live worker says when it plans its next sync: that wins over the estimate.
    heartbeat.beat(
        heartbeat.WORKER, NOW - 5, {"job": "idle", "next": {"sync": NOW + 42.5, "alerts": NOW + 7}}
    )
    assert monitor.next_sync(NOW, 2, 48) == monitor.NextSync(NOW + 42, "incremental")
    # A stale heartbeat (the worker died) is ignored.
    heartbeat.beat(heartbeat.WORKER, NOW - 3600, {"job": "idle", "next": {"sync": NOW + 42.5}})
    assert monitor.next_sync(NOW, 2, 48) == monitor.NextSync(NOW + HOUR, "incremental")


def test_company_sync_table(moodle):
    moodle.company(1, name="Alpha")
    moodle.company(2, name="Beta")
    rows = []
    for i in range(30):
        cid = 1 if i < 20 else 2
        rows.append(
            {
                "companyid": cid,
                "userid": 100 + i,
                "courseid": 7,
                "is_deleted": int(i % 7 == 0),
                "last_updated": NOW - 1000 + i * 10,
                "change_seq": i + 1,
            }
        )
    rows.append(
        {"companyid": 9, "userid": 1, "courseid": 7, "is_deleted": 0, "last_updated": NOW, "change_seq": 99}
    )
    Reporting.insert_many(rows).execute()
    SyncStatus.insert_many(
        [
            {
                "companyid": 1,
                "token_hash": "a",
                "last_sync_timestamp": NOW - 50,
                "done_at": NOW - 50,
                "last_sync_status": "success",
                "last_sync_records": 17,
            },
            {
                "companyid": 1,
                "token_hash": "b",
                "last_sync_timestamp": NOW - 500,
                "done_at": NOW - 400,
                "last_sync_status": "failed",
                "last_sync_records": 3,
            },
        ]
    ).execute()
    table = {c.companyid: c for c in monitor.company_sync_table()}
    for cid in (1, 2, 9):
        mine = [r for r in rows if r["companyid"] == cid]
        c = table[cid]
        assert c.rows == sum(1 for r in mine if not r["is_deleted"])
        assert c.removed == sum(1 for r in mine if r["is_deleted"])
        assert c.last_change == max(r["last_updated"] for r in mine)
    assert (table[1].tokens, table[1].last_pass, table[1].pass_status, table[1].pass_records) == (
        2,
        NOW - 50,
        "success",
        17,
    )
    assert (table[2].tokens, table[2].last_pass, table[2].pass_status) == (0, 0, "")
    assert (table[1].company, table[9].company) == ("Alpha", "")


def test_overview_counts_today_in_the_configured_zone(logs):
    config = load_config(env={}, search_paths=[]).replace(timezone="America/New_York", auto_sync_hours=1)
    zone = ZoneInfo("America/New_York")
    local = datetime.fromtimestamp(NOW, zone)
    midnight = int(local.replace(hour=0, minute=0, second=0).timestamp())
    Reporting.insert_many(
        [
            {"companyid": 1, "userid": 1, "courseid": 1, "is_deleted": 0},
            {"companyid": 3, "userid": 1, "courseid": 1, "is_deleted": 1},
        ]
    ).execute()
    ApiToken.update(revoked_at=NOW - 5).where(ApiToken.id == 2).execute()
    ApiToken.update(expires_at=NOW - 5).where(ApiToken.id == 3).execute()
    raise_alert("sync_failed", "high", "sync", "x", None, now=NOW, cooldown_seconds=0)
    raise_alert("slow", "medium", "api", "x", None, now=NOW, cooldown_seconds=0)
    beat("worker", NOW - 10)
    SyncRun.insert(mode="incremental", status="success", timestarted=NOW - 600).execute()
    got = monitor.overview(NOW, config)
    today = _in(logs, midnight, NOW + 1)
    assert got.day_start == midnight
    assert got.today.calls == len(today)
    assert got.companies_with_calls == len({r["companyid"] for r in today if r["companyid"]})
    assert (got.companies, got.companies_with_rows, got.active_tokens) == (3, 1, 1)
    assert got.alerts_open == {"low": 0, "medium": 1, "high": 1, "critical": 0} and got.alerts_pending == 2
    assert got.worker.alive and got.worker.last_beat == NOW - 10
    assert got.last_sync.timestarted == NOW - 600
    assert got.next_sync == monitor.NextSync(NOW - 600 + HOUR, "full")


def test_panes_agree_with_the_window_functions(logs):
    config = load_config(env={}, search_paths=[]).replace(timezone="UTC", failed_auth_limit=3)
    perf = monitor.performance(NOW, config)
    assert perf.window == monitor.api_window(NOW + 1 - DAY, NOW + 1)
    assert len(perf.series) == 24 and perf.series[-1].start == (NOW // HOUR) * HOUR
    sec = monitor.security(NOW, config)
    by_ip = monitor.failed_auth_by_ip(NOW + 1 - DAY, NOW + 1)
    assert sec.failed_auth == sum(i.failures for i in by_ip)
    assert sec.suspicious == [i for i in by_ip if i.failures > 3]
    assert sec.violation_count == sum(v.count for v in monitor.rate_limit_violations(NOW + 1 - DAY, NOW + 1))
    auto = monitor.autosync(NOW, config)
    assert [d.day for d in auto.days] == [f"2026-02-{d}" for d in range(24, 29)] + [
        "2026-03-01",
        "2026-03-02",
    ]


def test_seed_history_is_deterministic(moodle):
    moodle.company(1, name="Alpha")
    moodle.company(2, name="Beta")

    def snapshot():
        logs = [tuple(r[1:]) for r in ApiLog.select().order_by(ApiLog.id).tuples()]
        runs = [tuple(r[1:]) for r in SyncRun.select().order_by(SyncRun.id).tuples()]
        return logs, runs

    counts = seed_history(NOW, days=7, seed=42)
    first = snapshot()
    ApiLog.delete().execute()
    SyncRun.delete().execute()
    assert seed_history(NOW, days=7, seed=42) == counts
    assert snapshot() == first
    assert counts["api_logs"] == len(first[0]) > 500 and counts["sync_runs"] == len(first[1]) > 150
    # The week has failures, rate-limit refusals and a suspicious address, all before NOW.
    assert all(r.timecreated < NOW for r in ApiLog.select(ApiLog.timecreated))
    sec = monitor.security(NOW, load_config(env={}, search_paths=[]).replace(timezone="UTC"))
    assert sec.violation_count > 0 and sec.suspicious and sec.errors
    assert any(d.failed for d in monitor.sync_runs_by_day(NOW - 7 * DAY, NOW, "UTC"))
