"""Monitoring (pilot): each tab's figures equal what the database holds, tables update in place,
and keys are handled while a refresh is still running."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from textual.widgets import DataTable, TabbedContent

from alxapi.ops import monitor
from alxtui.screens.monitoring import MonitoringScreen
from alxtui.widgets.cards import Card
from alxtui.widgets.charts import BarChart
from models.iomad import Company
from models.plugin import ApiLog, Reporting, SyncRun

from .support.tui_helpers import CONSOLE_NOW, build_console_site
from .support.tui_pilot import drain, plain

SINCE_24H = CONSOLE_NOW + 1 - 86_400


@pytest.fixture
def site(db_url):
    return build_console_site(db_url)


async def _open(app, pilot, tab_key: str | None = None) -> MonitoringScreen:
    await pilot.press("4")
    await drain(app, pilot)
    if tab_key:
        await pilot.press(tab_key)
        await drain(app, pilot)
    assert isinstance(app.screen, MonitoringScreen)
    return app.screen


def _rows(table: DataTable) -> dict[str, list]:
    """Cells as the operator reads them (data cells are Text, never markup strings)."""
    return {str(row.key.value): [plain(v) for v in table.get_row(row.key)] for row in table.ordered_rows}


async def test_autosync_tab_equals_the_database(site):
    with site.db.connection_context():
        names = {c.id: c.name for c in Company.select()}
        live, gone = {}, {}
        for r in Reporting.select():
            (gone if r.is_deleted else live)[r.companyid] = (gone if r.is_deleted else live).get(
                r.companyid, 0
            ) + 1
        runs = list(SyncRun.select().dicts())
    week = {}
    for run in runs:
        day = datetime.fromtimestamp(run["timestarted"], UTC).strftime("%a")
        if run["timestarted"] >= CONSOLE_NOW - 10 * 3600 - 6 * 86_400:
            ok = run["status"] in ("success", "partial")
            week.setdefault(day, [0, 0])[0 if ok else 1] += 1
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(app, pilot)
        assert screen.query_one("#monitor-tabs", TabbedContent).active == "autosync"
        rows = _rows(screen.query_one("#sync-table", DataTable))
        assert set(rows) == {str(c) for c in names}
        for cid, name in names.items():
            assert rows[str(cid)][:3] == [f"{cid} {name}", f"{live.get(cid, 0):,}", f"{gone.get(cid, 0):,}"]
        chart = screen.query_one("#sync-trend", BarChart)
        assert len(chart.values) == 7
        for label, value in zip(chart.labels, chart.values, strict=True):
            day, counts = label.split(" ")
            ok, failed = week[day]
            assert counts == f"{ok}/{ok + failed}"
            assert value == pytest.approx(round(100 * ok / (ok + failed), 2))
        assert screen.query_one("#sync-companies", Card).value == f"{len(live)} of {len(names)}"


async def test_performance_tab_equals_the_database(site):
    with site.db.connection_context():
        logs = [r for r in ApiLog.select().dicts() if SINCE_24H <= r["timecreated"] <= CONSOLE_NOW]
        names = {c.id: c.name for c in Company.select()}
    served = [r for r in logs if not r["error_code"]]
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(app, pilot, "e")
        assert screen.query_one("#monitor-tabs", TabbedContent).active == "performance"
        assert screen.query_one("#perf-calls", Card).value == f"{len(logs):,}"
        assert screen.query_one("#perf-records", Card).value == f"{sum(r['record_count'] for r in logs):,}"
        assert screen.query_one("#perf-success", Card).value == f"{100 * len(served) / len(logs):.1f} %"
        assert (
            screen.query_one("#perf-cache", Card).value
            == f"{100 * sum(r['cache_hit'] for r in logs) / len(served):.1f} %"
        )
        times = sorted(float(r["response_time_ms"]) for r in logs)
        p95 = times[-(-95 * len(times) // 100) - 1]
        assert screen.query_one("#perf-response", Card).detail == f"p95 {p95:.0f}ms"
        by_company = {}
        for r in logs:
            by_company[r["companyid"]] = by_company.get(r["companyid"], 0) + 1
        rows = _rows(screen.query_one("#top-table", DataTable))
        assert {k: v[1] for k, v in rows.items()} == {str(c): f"{n:,}" for c, n in by_company.items()}
        assert [v[0] for v in rows.values()][
            0
        ] == f"{max(by_company, key=by_company.get)} {names[max(by_company, key=by_company.get)]}"
        chart = screen.query_one("#perf-chart", BarChart)
        assert len(chart.values) == 24
        assert sum(1 for v in chart.values if v is not None) == len(
            {
                (r["timecreated"] // 3600)
                for r in logs
                if r["timecreated"] >= CONSOLE_NOW - 23 * 3600 - CONSOLE_NOW % 3600
            }
        )


async def test_security_tab_equals_the_database(site):
    with site.db.connection_context():
        logs = [r for r in ApiLog.select().dicts() if SINCE_24H <= r["timecreated"] <= CONSOLE_NOW]
    refused = {}
    for r in logs:
        if r["error_code"] == "ratelimitexceeded":
            refused[(r["token_ref"], r["companyid"])] = refused.get((r["token_ref"], r["companyid"]), 0) + 1
    failed = {}
    for r in logs:
        if r["error_code"] in ("invalidtoken", "accessexception"):
            failed[r["ip_address"]] = failed.get(r["ip_address"], 0) + 1
    errors = sorted((r for r in logs if r["error_code"]), key=lambda r: (-r["timecreated"], -r["id"]))[:20]
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(app, pilot, "s")
        assert screen.query_one("#sec-ratelimits", Card).value == f"{sum(refused.values()):,}"
        assert screen.query_one("#sec-failed", Card).value == f"{sum(failed.values()):,}"
        suspicious = [ip for ip, n in failed.items() if n > site.config.failed_auth_limit]
        assert screen.query_one("#sec-suspicious", Card).value == str(len(suspicious))
        violations = _rows(screen.query_one("#violations-table", DataTable))
        assert {k: v[2] for k, v in violations.items()} == {
            f"{t}|{c}": f"{n:,}" for (t, c), n in refused.items()
        }
        shown = _rows(screen.query_one("#errors-table", DataTable))
        assert list(shown) == [str(r["id"]) for r in errors]
        assert [v[1] for v in shown.values()] == [r["error_code"] for r in errors]


async def test_tables_update_in_place(site):
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(app, pilot, "e")
        table = screen.query_one("#top-table", DataTable)
        before = _rows(table)
        cleared = []
        table.clear = lambda *a, **k: cleared.append(a)  # a rebuild would go through clear()
        with site.db.connection_context():
            ApiLog.insert(
                timecreated=CONSOLE_NOW - 5,
                companyid=1,
                token_ref="w:1",
                endpoint="v1_course_progress",
                record_count=10,
                response_time_ms=5,
            ).execute()
        await pilot.press("r")
        await drain(app, pilot)
        after = _rows(table)
        assert not cleared
        assert list(after) == list(before)
        assert int(after["1"][1]) == int(before["1"][1]) + 1
        assert after["2"][1] == before["2"][1]


async def test_keys_are_handled_while_a_refresh_is_running(site, monkeypatch):
    release = threading.Event()
    started = threading.Event()
    real = monitor.autosync

    def slow_autosync(now, config):
        started.set()
        assert release.wait(30), "the test never released the refresh"
        return real(now, config)

    monkeypatch.setattr(monitor, "autosync", slow_autosync)
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await drain(app, pilot)
        await pilot.press("4")
        await pilot.pause()
        assert started.wait(10)
        screen = app.screen
        assert isinstance(screen, MonitoringScreen) and screen._polling
        # The Auto-Sync fetch is blocked in its thread; the keyboard still works.
        await pilot.press("e")
        await pilot.pause()
        assert screen.query_one("#monitor-tabs", TabbedContent).active == "performance"
        await pilot.press("p")
        assert app.paused
        await pilot.press("p")
        await pilot.press("1")
        await pilot.pause()
        assert type(app.screen).__name__ == "ControlCenterScreen"
        assert not release.is_set() and screen._polling  # all of that happened during the refresh
        release.set()
        await drain(app, pilot)
        assert not screen._polling
