"""Companies screen: the counts shown are the database's; every toggle and setting saved from the
console reaches the settings table and the audit log with the operator's name; refused input saves
nothing (all or nothing) and says why."""

from __future__ import annotations

import json

import pytest
from textual.widgets import Checkbox, DataTable, Input, Select, Static

from alxapi.access import settings as company_settings
from alxapi.access import tokens as token_service
from alxtui.screens.companies import CompaniesScreen
from models.iomad import Company, CompanyCourse, CompanyUser
from models.moodle import User
from models.plugin import Audit, Reporting, Setting

from .support.tui_helpers import CONSOLE_NOW, build_console_site
from .support.tui_pilot import (
    no_cursor_blink,
    open_screen,
    row_cells,
    settle,
    snapshot_site,
    static_text,
    type_into,
)

__all__ = ["no_cursor_blink"]


@pytest.fixture
def site(db_url):
    return build_console_site(db_url)


def expected_counts(site) -> dict[int, dict]:
    """Each company's figures, computed here row by row (not with the product's queries)."""
    with site.db.connection_context():
        users = {u.id: u for u in User.select(User.id, User.deleted, User.suspended)}
        members: dict[int, set] = {}
        for cu in CompanyUser.select():
            u = users.get(cu.userid)
            if cu.suspended == 0 and u is not None and u.deleted == 0 and u.suspended == 0:
                members.setdefault(cu.companyid, set()).add(cu.userid)
        courses: dict[int, set] = {}
        for cc in CompanyCourse.select():
            courses.setdefault(cc.companyid, set()).add(cc.courseid)
        rows: dict[int, int] = {}
        for r in Reporting.select(Reporting.companyid, Reporting.is_deleted):
            if r.is_deleted == 0:
                rows[r.companyid] = rows.get(r.companyid, 0) + 1
        result = {}
        for c in Company.select():
            result[c.id] = {
                "name": c.name,
                "shortname": c.shortname,
                "users": len(members.get(c.id, ())),
                "courses": len(courses.get(c.id, ())),
                "rows": rows.get(c.id, 0),
            }
    return result


def settings_rows(site) -> list[tuple]:
    with site.db.connection_context():
        return sorted(Setting.select(Setting.companyid, Setting.setting_name, Setting.setting_value).tuples())


def audit_rows(site) -> list[Audit]:
    with site.db.connection_context():
        return list(Audit.select().order_by(Audit.id))


async def open_company(pilot, companyid: int) -> CompaniesScreen:
    await open_screen(pilot, "2")
    screen = pilot.app.screen
    table = screen.query_one("#companies-table", DataTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(str(companyid)))
    await pilot.press("enter")
    await settle(pilot)
    assert screen.in_detail and screen.detail["id"] == companyid
    return screen


async def test_list_shows_the_database_counts(site):
    with site.db.connection_context():
        # Tokens count only when active: one active, one revoked, one expired for company 1.
        token_service.create_token(1, name="active", actor="setup", now=CONSOLE_NOW)
        _t, revoked = token_service.create_token(1, name="revoked", actor="setup", now=CONSOLE_NOW)
        token_service.revoke_token(revoked.id, "setup", CONSOLE_NOW)
        token_service.create_token(
            1, name="expired", expires_days=1, actor="setup", now=CONSOLE_NOW - 3 * 86_400
        )
        token_service.create_token(2, name="c2", actor="setup", now=CONSOLE_NOW)
    expected = expected_counts(site)
    assert len(expected) >= 3 and any(e["rows"] for e in expected.values())
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, "2")
        table = app.screen.query_one("#companies-table", DataTable)
        assert table.row_count == len(expected)
        for cid, e in expected.items():
            tokens = {1: 1, 2: 1}.get(cid, 0)
            assert row_cells(table, str(cid)) == [
                str(cid),
                e["name"],
                e["shortname"],
                f"{e['users']:,}",
                f"{e['courses']:,}",
                f"{e['rows']:,}",
                str(tokens),
            ]


async def test_detail_shows_stored_settings_and_enrolled_counts(site):
    with site.db.connection_context():
        company_settings.set_values(
            1, {"field_email": "0", "rate_limit": "500", "sync_mode": "2"}, "setup", CONSOLE_NOW
        )
        enrolled: dict[int, int] = {}
        for r in Reporting.select().where(Reporting.companyid == 1):
            if not r.is_deleted:
                enrolled[r.courseid] = enrolled.get(r.courseid, 0) + 1
        in_company = {cc.courseid for cc in CompanyCourse.select().where(CompanyCourse.companyid == 1)}
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_company(pilot, 1)
        assert screen.query_one("#field-email", Checkbox).value is False
        assert screen.query_one("#field-firstname", Checkbox).value is True
        assert screen.query_one("#set-rate_limit", Input).value == "500"
        assert screen.query_one("#set-max_records", Input).value == ""  # the global value applies
        assert screen.query_one("#set-sync_window_hours", Input).value == "24"
        assert screen.query_one("#set-sync_mode", Select).value == 2
        assert set(screen.course_boxes) == in_company | set(enrolled)
        for cid, box in screen.course_boxes.items():
            assert f"[id {cid}] · {enrolled.get(cid, 0):,} enrolled" in str(box.label)
            assert box.value == (cid in in_company)  # no course switches: the IOMAD courses are on
        assert screen.assignments() == {}


async def test_every_change_reaches_the_database_and_the_audit_log(site):
    before = settings_rows(site)
    assert before == []
    app = site.app(actor="alice")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_company(pilot, 1)
        # A field switched off with the keyboard.
        email = screen.query_one("#field-email", Checkbox)
        email.focus()
        await pilot.press("space")
        # Limits typed in.
        await type_into(pilot, screen.query_one("#set-rate_limit", Input), "250")
        await type_into(pilot, screen.query_one("#set-cache_ttl_minutes", Input), "5")
        await type_into(pilot, screen.query_one("#set-sync_window_hours", Input), "12")
        await type_into(pilot, screen.query_one("#set-max_records", Input), "300")
        screen.query_one("#set-sync_mode", Select).value = 1
        # One course switched off: under the company_course rule the others are stored as on.
        courses = sorted(c for c, box in screen.course_boxes.items() if box.value)
        off = courses[0]
        screen.course_boxes[off].focus()
        await pilot.press("space")
        await pilot.pause()
        assert "unsaved change" in static_text(screen.query_one("#company-title", Static))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "Saved" in static_text(screen.query_one("#company-message", Static))
        assert screen.assignments() == {}  # the editor now shows what is stored
    stored = {(name, value) for cid, name, value in settings_rows(site) if cid == 1}
    expected = {
        ("field_email", 0),
        ("rate_limit", 250),
        ("cache_ttl_minutes", 5),
        ("sync_window_hours", 12),
        ("max_records", 300),
        ("sync_mode", 1),
        (f"course_{off}", 0),
        *((f"course_{c}", 1) for c in courses[1:]),
    }
    assert stored == expected
    with site.db.connection_context():
        assert company_settings.load(1).courses == tuple(courses[1:])
    audits = audit_rows(site)
    assert {a.actor for a in audits} == {"alice"}
    assert {a.action for a in audits} == {"company.set"}
    assert all(a.target == "company:1" for a in audits)
    assert {json.loads(a.details)["setting"] for a in audits} == {name for name, _v in expected}


@pytest.mark.parametrize(
    ("key", "text", "problem"),
    [
        ("rate_limit", "-5", "rate_limit=-5: out of range"),
        ("sync_window_hours", "0", "sync_window_hours=0: out of range"),
        ("cache_ttl_minutes", "abc", "not a whole number"),
        ("max_records", "1.5", "not a whole number"),
    ],
)
async def test_invalid_input_is_refused_and_nothing_is_saved(site, key, text, problem):
    app = site.app(actor="alice")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_company(pilot, 2)
        # A valid change beside the invalid one: all or nothing.
        screen.query_one("#field-username", Checkbox).value = False
        await type_into(pilot, screen.query_one(f"#set-{key}", Input), text)
        await pilot.press("ctrl+s")
        await settle(pilot)
        message = static_text(screen.query_one("#company-message", Static))
        assert message.startswith("Not saved") and problem in message
        assert screen.query_one("#company-message", Static).has_class("-error")
        # The edits stay on screen to be corrected.
        assert screen.query_one(f"#set-{key}", Input).value == text
        assert screen.assignments()["field_username"] == "0"
    assert settings_rows(site) == []
    assert audit_rows(site) == []


async def test_revert_discards_edits_and_saves_nothing(site):
    app = site.app(actor="alice")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_company(pilot, 1)
        await type_into(pilot, screen.query_one("#set-rate_limit", Input), "7")
        next(iter(screen.course_boxes.values())).value = False
        screen.query_one("#field-status", Checkbox).value = False
        await pilot.pause()
        assert len(screen.assignments()) >= 3
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert screen.assignments() == {}
        assert screen.query_one("#set-rate_limit", Input).value == ""
        await pilot.press("ctrl+s")  # nothing to save
        await settle(pilot)
        assert "Nothing to save" in static_text(screen.query_one("#company-message", Static))
        # Back to the list with the keyboard.
        await pilot.press("escape")
        await pilot.pause()
        assert not screen.in_detail
    assert settings_rows(site) == [] and audit_rows(site) == []


async def test_clearing_a_value_restores_the_default(site):
    with site.db.connection_context():
        company_settings.set_values(3, {"rate_limit": "40"}, "setup", CONSOLE_NOW)
    app = site.app(actor="bob")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_company(pilot, 3)
        assert screen.query_one("#set-rate_limit", Input).value == "40"
        await type_into(pilot, screen.query_one("#set-rate_limit", Input), "")
        await pilot.press("ctrl+s")
        await settle(pilot)
    assert [r for r in settings_rows(site) if r[1] == "rate_limit"] == []
    last = audit_rows(site)[-1]
    assert last.actor == "bob" and '"new": null' in last.details and '"old": 40' in last.details


async def test_unsaved_changes_survive_a_refresh_and_leaving_asks_first(site):
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_company(pilot, 1)
        await type_into(pilot, screen.query_one("#set-rate_limit", Input), "99")
        screen.query_one("#field-status", Checkbox).focus()
        await pilot.press("r")  # refresh now: the edit must stay
        await settle(pilot)
        assert screen.query_one("#set-rate_limit", Input).value == "99"
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "ConfirmDialog"
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is screen and screen.in_detail
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert not screen.in_detail
    assert settings_rows(site) == []


# --- snapshots ------------------------------------------------------------------------------------

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_company_list(snap_compare, tmp_path, monkeypatch, no_cursor_blink, size):
    site = snapshot_site(tmp_path, monkeypatch)

    async def run_before(pilot):
        await open_screen(pilot, "2")

    assert snap_compare(site.app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_company_editor(snap_compare, tmp_path, monkeypatch, no_cursor_blink, size):
    site = snapshot_site(tmp_path, monkeypatch)
    with site.db.connection_context():
        company_settings.set_values(1, {"field_email": "0", "rate_limit": "500"}, "setup", CONSOLE_NOW)

    async def run_before(pilot):
        await open_company(pilot, 1)

    assert snap_compare(site.app(), terminal_size=size, run_before=run_before)
