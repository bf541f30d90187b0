"""The console's Reports and Insights screens (SPEC §8.8), driven through the real app with Pilot on the
demo site (with its Moodle log): rows equal the report service's, errors shown in place, exports that
open, a slow report that does not block the keys, and snapshots at 80×24 and 120×40."""

from __future__ import annotations

import threading

import pytest
from pypdf import PdfReader
from textual.widgets import DataTable, Input, Select, Static

from alxapi.analytics.insights import company_insights
from alxapi.analytics.reports import RunContext, get_report
from alxtui.screens import reports as reports_screen
from alxtui.screens.insights import InsightsScreen
from alxtui.screens.reports import ALL, ReportsScreen
from alxtui.widgets.cards import Card
from alxtui.widgets.charts import BarChart

from .support.tui_helpers import build_console_site
from .support.tui_pilot import no_cursor_blink, open_screen, settle, snapshot_site, static_text  # noqa: F401

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.fixture
def site(db_url):
    return build_console_site(db_url, history=False)


def expected_rows(site, name, companyid, **params):
    with site.db.connection_context():
        return get_report(name).run(RunContext(companyid, site.now, site.config), params)


async def test_reports_run_for_a_company_and_for_all(site):
    app = site.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, "8")
        screen = app.screen
        assert isinstance(screen, ReportsScreen)
        table = screen.query_one("#reports-table", DataTable)
        want = expected_rows(site, "engagement", 1)
        assert table.row_count == len(want) > 0
        assert [str(c.label) for c in table.ordered_columns][:3] == ["Company", "User", "Course"]
        assert "Engagement · " in static_text(screen.query_one("#reports-status", Static))
        assert f"{len(want):,} rows" in static_text(screen.query_one("#reports-status", Static))

        screen.query_one("#reports-report", Select).value = "course-summary"
        await settle(pilot)
        assert table.row_count == len(expected_rows(site, "course-summary", 1))
        screen.query_one("#reports-company", Select).value = ALL
        await settle(pilot)
        assert table.row_count == len(expected_rows(site, "course-summary", None))
        assert "All companies" in static_text(screen.query_one("#reports-status", Static))


async def test_a_bad_parameter_is_shown_in_place_and_a_good_one_runs(site):
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, "8")
        screen = app.screen
        screen.query_one("#reports-report", Select).value = "inactive-learners"
        await settle(pilot)
        params = screen.query_one("#reports-params", Input)
        assert params.placeholder == "days=…"
        await pilot.press("a")
        for text, shown in (
            ("days=x", "days must be a whole number"),
            ("days", "NAME=VALUE"),
            ("day=3", "no parameter 'day'"),
        ):
            params.value = text
            await pilot.press("enter")
            await settle(pilot)
            assert shown in static_text(screen.query_one("#reports-status", Static)), text
            params.focus()
        params.value = "days=1"
        await pilot.press("enter")
        await settle(pilot)
        assert screen.query_one("#reports-table", DataTable).row_count == len(
            expected_rows(site, "inactive-learners", 1, days="1")
        )
        assert "Cannot run" not in static_text(screen.query_one("#reports-status", Static))


async def test_export_from_the_reports_screen(site, tmp_path):
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, "8")
        screen = app.screen
        screen.query_one("#reports-report", Select).value = "trends"
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        dialog = app.screen
        dialog.query_one("#export-format", Select).value = "pdf"
        await pilot.pause()
        target = tmp_path / "trends.pdf"
        dialog.query_one("#export-path", Input).value = str(target)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "Exported 12 rows (pdf)" in static_text(screen.query_one("#reports-export-status", Static))
    text = PdfReader(target).pages[0].extract_text()
    assert "Trends" in text and "Started and completed per month" in text


async def test_a_slow_report_never_blocks_the_keys(site, monkeypatch):
    release = threading.Event()
    real = reports_screen.run_report

    def slow(*args, **kwargs):
        release.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(reports_screen, "run_report", slow)
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("8")
        await pilot.pause()
        assert isinstance(app.screen, ReportsScreen) and not release.is_set()
        await pilot.press("9")  # while the report still runs
        await pilot.pause()
        assert isinstance(app.screen, InsightsScreen)
        release.set()
        await settle(pilot)


async def test_insights_show_the_company_at_a_glance(site):
    app = site.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, "9")
        screen = app.screen
        with site.db.connection_context():
            want = company_insights(1, now=site.now, config=site.config)
        assert want.learners > 0 and want.at_risk_count > 0 and want.time_spent > 0  # the demo's log is alive
        assert screen.query_one("#in-learners", Card).value == f"{want.learners:,}"
        assert screen.query_one("#in-risk", Card).value == f"{want.at_risk_count:,}"
        assert screen.query_one("#insights-risk", DataTable).row_count == min(want.at_risk_count, 200)
        assert screen.query_one("#insights-courses", DataTable).row_count == len(want.courses)
        assert screen.query_one("#insights-distribution", BarChart).values == want.distribution
        assert len(screen.query_one("#insights-trends", BarChart).values) == 12
        screen.query_one("#insights-company", Select).value = 2
        await settle(pilot)
        with site.db.connection_context():
            second = company_insights(2, now=site.now, config=site.config)
        assert screen.query_one("#in-learners", Card).value == f"{second.learners:,}"


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_reports(snap_compare, tmp_path, monkeypatch, no_cursor_blink, size):  # noqa: F811
    site = snapshot_site(tmp_path, monkeypatch)

    async def run_before(pilot):
        await open_screen(pilot, "8")
        pilot.app.screen.query_one("#reports-report", Select).value = "at-risk"
        await settle(pilot)
        pilot.app.screen.query_one("#reports-table", DataTable).focus()
        await pilot.pause()

    assert snap_compare(site.app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_insights(snap_compare, tmp_path, monkeypatch, no_cursor_blink, size):  # noqa: F811
    site = snapshot_site(tmp_path, monkeypatch)

    async def run_before(pilot):
        await open_screen(pilot, "9")
        pilot.app.screen.query_one("#insights-risk", DataTable).focus()
        await pilot.pause()

    assert snap_compare(site.app(), terminal_size=size, run_before=run_before)


async def test_saved_sql_reports_run_in_the_console(site):
    from models.analytics import SavedReport
    from models.plugin import Audit

    with site.db.connection_context():
        SavedReport.create(
            name="statuses",
            title="Statuses",
            sql="SELECT status, COUNT(*) AS n FROM {local_alx_api_reporting} WHERE companyid = :companyid "
            "AND is_deleted = 0 GROUP BY status ORDER BY status",
        )
        want = {
            (s, n)
            for s, n in site.db.execute_sql(
                "SELECT status, COUNT(*) FROM mdl_local_alx_api_reporting WHERE companyid = 1 AND is_deleted = 0 GROUP BY status"
            ).fetchall()
        }
    app = site.app(actor="operator7")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, "8")
        screen = app.screen
        select = screen.query_one("#reports-report", Select)
        assert "statuses" in [value for _label, value in select._options]
        select.value = "statuses"
        await settle(pilot)
        table = screen.query_one("#reports-table", DataTable)
        got = {
            (str(table.get_row_at(i)[0]), int(str(table.get_row_at(i)[1]))) for i in range(table.row_count)
        }
        assert got == want
        screen.query_one("#reports-company", Select).value = ALL
        await settle(pilot)
        assert "give --company" in static_text(screen.query_one("#reports-status", Static))
    with site.db.connection_context():
        assert Audit.select().where(Audit.action == "report.run", Audit.actor == "operator7").count() == 1


async def test_add_a_saved_report_and_schedule_it_from_the_console(site, tmp_path):
    from alxapi.schedules import store as schedule_store
    from models.analytics import SavedReport, Schedule

    from .support.sinks import SmtpSink

    bad, good = tmp_path / "bad.sql", tmp_path / "good.sql"
    bad.write_text("SELECT * FROM {config}")
    good.write_text(
        "SELECT status, COUNT(*) AS n FROM {local_alx_api_reporting} WHERE companyid = :companyid GROUP BY status"
    )
    with SmtpSink() as smtp:
        site.config = site.config.replace(smtp_host="127.0.0.1", smtp_port=smtp.port)
        app = site.app(actor="operator7")
        async with app.run_test(size=(120, 40)) as pilot:
            await open_screen(pilot, "8")
            await settle(pilot)
            await pilot.press("f")
            await settle(pilot)
            dialog = app.screen
            dialog.query_one("#saved-name", Input).value = "statuses"
            dialog.query_one("#saved-file", Input).value = str(bad)
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert "refused: table {config} is not in report_allowed_tables" in static_text(
                dialog.query_one("#saved-error", Static)
            )
            with site.db.connection_context():
                assert SavedReport.select().count() == 0
            dialog.query_one("#saved-file", Input).value = str(good)
            await pilot.press("ctrl+s")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, ReportsScreen) and screen.choice.report == "statuses"
            assert screen.query_one("#reports-table", DataTable).row_count > 0

            await pilot.press("h")
            await settle(pilot)
            dialog = app.screen
            dialog.query_one("#schedule-emails", Input).value = "ops@example.com, hr@example.com"
            await pilot.press("ctrl+s")
            await settle(pilot)
            table = dialog.query_one("#schedules-table", DataTable)
            assert table.row_count == 1
            table.focus()
            await pilot.press("g")
            await settle(pilot)
            assert "sent" in static_text(dialog.query_one("#schedules-message", Static))
            assert len(smtp.messages) == 1 and sorted(smtp.messages[0][0]) == [
                "hr@example.com",
                "ops@example.com",
            ]
            await pilot.press("x")
            await settle(pilot)
            with site.db.connection_context():
                row = Schedule.get()
                assert (row.report, row.companyid, row.enabled) == ("statuses", 1, 0)
                assert schedule_store.listing()[0]["last_run"]["status"] == "success"


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_schedules_dialog(snap_compare, tmp_path, monkeypatch, no_cursor_blink, size):  # noqa: F811
    site = snapshot_site(tmp_path, monkeypatch)

    async def run_before(pilot):
        await open_screen(pilot, "8")
        await pilot.press("h")
        await settle(pilot)

    assert snap_compare(site.app(), terminal_size=size, run_before=run_before)
