"""Data & export screen: pages of a company's rows equal the database's (keyset paging, deleted rows
hidden unless switched on, hidden fields absent); an export started from the console writes the file."""

from __future__ import annotations

import csv

import openpyxl
import pytest
from textual.widgets import Checkbox, DataTable, Input, Select, Static

from alxapi.access import settings as company_settings
from alxtui.dialogs import ExportDialog
from alxtui.screens.data_export import DataScreen
from models.iomad import CompanyCourse
from models.plugin import Reporting

from .support.tui_helpers import CONSOLE_NOW, build_console_site
from .support.tui_pilot import (
    no_cursor_blink,
    open_screen,
    plain,
    settle,
    snapshot_site,
    static_text,
    table_keys,
    type_into,
)

__all__ = ["no_cursor_blink"]


@pytest.fixture
def site(db_url):
    return build_console_site(db_url)


def expected_keys(site, companyid: int, include_deleted=False) -> list[str]:
    with site.db.connection_context():
        courses = {cc.courseid for cc in CompanyCourse.select().where(CompanyCourse.companyid == companyid)}
        rows = [
            r
            for r in Reporting.select().where(Reporting.companyid == companyid)
            if r.courseid in courses and (include_deleted or not r.is_deleted)
        ]
    return [f"{r.userid}-{r.courseid}" for r in sorted(rows, key=lambda r: (r.userid, r.courseid))]


async def choose_company(pilot, companyid: int) -> DataScreen:
    screen = pilot.app.screen
    screen.query_one("#data-company", Select).value = companyid
    await settle(pilot)
    assert screen.companyid == companyid
    return screen


async def test_pages_cover_every_row_once_in_key_order(site, monkeypatch):
    monkeypatch.setattr(DataScreen, "PAGE_SIZE", 10)
    expected = expected_keys(site, 2)
    assert len(expected) > 20
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, "6")
        screen = await choose_company(pilot, 2)
        table = screen.query_one("#data-table", DataTable)
        table.focus()
        seen = []
        pages = 0
        while True:
            keys = table_keys(table)
            assert 0 < len(keys) <= 10
            seen += keys
            pages += 1
            status = static_text(screen.query_one("#data-status", Static))
            assert f"of {len(expected)}" in status and f"page {pages}/" in status
            if not screen.page.has_more:
                break
            await pilot.press("right_square_bracket")
            await settle(pilot)
        assert seen == expected
        # And back.
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert table_keys(table) == expected[(pages - 2) * 10 : (pages - 1) * 10]


async def test_cells_equal_the_database_and_hidden_fields_are_absent(site):
    with site.db.connection_context():
        company_settings.set_values(
            1, {"field_email": "0", "field_timecompleted_unix": "0"}, "t", CONSOLE_NOW
        )
        first = sorted(
            (r for r in Reporting.select().where((Reporting.companyid == 1) & (Reporting.is_deleted == 0))),
            key=lambda r: (r.userid, r.courseid),
        )
        courses = {cc.courseid for cc in CompanyCourse.select().where(CompanyCourse.companyid == 1)}
        first = [r for r in first if r.courseid in courses][0]
    app = site.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, "6")
        screen = await choose_company(pilot, 1)
        table = screen.query_one("#data-table", DataTable)
        labels = [str(c.label) for c in table.ordered_columns]
        assert "email" not in labels and "timecompleted_unix" not in labels
        assert labels[:4] == ["userid", "firstname", "lastname", "username"]
        row = dict(
            zip(labels, (plain(v) for v in table.get_row(f"{first.userid}-{first.courseid}")), strict=True)
        )
        assert row["userid"] == str(first.userid) and row["courseid"] == str(first.courseid)
        assert row["firstname"] == first.firstname and row["coursename"] == first.coursename
        assert row["percentage"] == f"{float(first.percentage):.2f}" and row["status"] == first.status
        assert row["timestarted_unix"] == str(first.timestarted)


async def test_deleted_rows_are_hidden_unless_switched_on(site):
    with site.db.connection_context():
        victim = (
            Reporting.select()
            .where((Reporting.companyid == 1) & (Reporting.is_deleted == 0))
            .order_by(Reporting.userid, Reporting.courseid)
            .first()
        )
        Reporting.update(is_deleted=1).where(Reporting.id == victim.id).execute()
    key = f"{victim.userid}-{victim.courseid}"
    app = site.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, "6")
        screen = await choose_company(pilot, 1)
        table = screen.query_one("#data-table", DataTable)
        assert key not in table_keys(table)
        assert table_keys(table) == expected_keys(site, 1)[: DataScreen.PAGE_SIZE]
        table.focus()
        await pilot.press("d")
        await settle(pilot)
        assert table_keys(table) == expected_keys(site, 1, include_deleted=True)[: DataScreen.PAGE_SIZE]
        assert str(table.ordered_columns[-1].label) == "deleted"
        assert plain(table.get_row(key)[-1]) == "1"
        assert "deleted rows shown" in static_text(screen.query_one("#data-status", Static))


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_export_from_the_console_writes_the_file(site, tmp_path, fmt, monkeypatch):
    with site.db.connection_context():
        company_settings.set_values(2, {"field_email": "0"}, "t", CONSOLE_NOW)
    # A relative path, typed key by key (each key press is a round trip through the app: a long
    # temporary path took 5 s to type).
    monkeypatch.chdir(tmp_path)
    target = tmp_path / f"export.{fmt}"
    expected = expected_keys(site, 2)
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, "6")
        screen = await choose_company(pilot, 2)
        screen.query_one("#data-table", DataTable).focus()
        await pilot.press("e")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ExportDialog)
        assert dialog.query_one("#export-path", Input).value == "./alx-company-2-20260302.csv"
        dialog.query_one("#export-format", Select).value = fmt
        await pilot.pause()
        assert dialog.query_one("#export-path", Input).value == f"./alx-company-2-20260302.{fmt}"
        assert dialog.query_one("#export-deleted", Checkbox).value is False
        await type_into(pilot, dialog.query_one("#export-path", Input), target.name)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert screen.last_export == {"rows": len(expected), "path": str(target), "fmt": fmt}
        assert f"Exported {len(expected)} rows" in static_text(
            screen.query_one("#data-export-status", Static)
        )
    if fmt == "csv":
        with open(target, newline="", encoding="utf-8-sig") as f:  # files get a BOM (spreadsheets)
            rows = list(csv.DictReader(f))
        header = list(rows[0])
        keys = [f"{r['userid']}-{r['courseid']}" for r in rows]
    else:
        book = openpyxl.load_workbook(target, read_only=True)
        values = list(book.active.iter_rows(values_only=True))
        book.close()
        header = list(values[0])
        keys = [f"{r[0]}-{r[header.index('courseid')]}" for r in values[1:]]
    assert "email" not in header and header[0] == "userid"
    assert keys == expected


async def test_a_failed_export_says_why(site, tmp_path):
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, "6")
        screen = await choose_company(pilot, 1)
        screen.start_export(1, "csv", str(tmp_path / "no-such-dir" / "x.csv"), False)
        await settle(pilot)
        text = static_text(screen.query_one("#data-export-status", Static))
        assert text.startswith("Export failed") and "does not exist" in text
        assert screen.last_export is None
    assert not (tmp_path / "no-such-dir").exists()


# --- snapshots ------------------------------------------------------------------------------------

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_data(snap_compare, tmp_path, monkeypatch, no_cursor_blink, size):
    site = snapshot_site(tmp_path, monkeypatch)

    async def run_before(pilot):
        await open_screen(pilot, "6")
        pilot.app.screen.query_one("#data-table", DataTable).focus()
        await pilot.pause()

    assert snap_compare(site.app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_export_dialog(snap_compare, tmp_path, monkeypatch, no_cursor_blink, size):
    site = snapshot_site(tmp_path, monkeypatch)

    async def run_before(pilot):
        await open_screen(pilot, "6")
        pilot.app.screen.query_one("#data-table", DataTable).focus()
        await pilot.press("e")
        await settle(pilot)

    assert snap_compare(site.app(), terminal_size=size, run_before=run_before)
