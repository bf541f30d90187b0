"""Tokens screen: the list's figures are the database's (today's use counted as the rate limit counts
it); a token created in the console works, is shown once and copied with OSC 52, and only its hash is
stored; revoking asks first; every change is audited with the operator's name."""

from __future__ import annotations

import hashlib
import json

import pytest
from textual.widgets import DataTable, Input, Select, Static

from alxapi.access import settings as company_settings
from alxapi.access import tokens as token_service
from alxapi.api import requestlog
from alxtui.dialogs import ConfirmDialog, TokenCreateDialog, TokenShownDialog
from models.plugin import ApiLog, ApiToken, Audit

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
DAY_START = CONSOLE_NOW - 10 * 3600  # the clock is 10:00 UTC; the site's zone is UTC


@pytest.fixture
def site(db_url):
    return build_console_site(db_url)


def make_tokens(site) -> dict[str, int]:
    """Three tokens with known use today: active (limit from the company), revoked, expired."""
    with site.db.connection_context():
        company_settings.set_values(2, {"rate_limit": "5"}, "setup", CONSOLE_NOW)
        _t, a = token_service.create_token(
            1, name="Power BI", ip="10.0.0.0/8", actor="setup", now=CONSOLE_NOW - 86_400
        )
        _t, b = token_service.create_token(
            2, name="Tableau", expires_days=30, actor="setup", now=CONSOLE_NOW - 3600
        )
        _t, c = token_service.create_token(
            3, name="old", expires_days=1, actor="setup", now=CONSOLE_NOW - 5 * 86_400
        )
        token_service.revoke_token(b.id, "setup", CONSOLE_NOW - 60)
        ApiToken.update(lastused=CONSOLE_NOW - 120).where(ApiToken.id == a.id).execute()

        def log(ref: str, when: int, error: str = "") -> None:
            requestlog.write(
                requestlog.LogEntry(endpoint="moodle", timecreated=when, token_ref=ref, error_code=error)
            )

        for i in range(7):
            log(f"m:{a.id}", DAY_START + 60 * i)  # today: counted
        log(f"m:{a.id}", DAY_START - 1)  # yesterday: not counted
        log(f"m:{a.id}", DAY_START + 5, "ratelimitexceeded")  # refused for the limit: not counted
        log(f"m:{b.id}", DAY_START + 100)
        log(f"m:{b.id}", DAY_START + 200, "invalidparameter")  # other errors count
    return {"a": a.id, "b": b.id, "c": c.id}


def used_today(site, token_id: int) -> int:
    with site.db.connection_context():
        return sum(
            1
            for r in ApiLog.select()
            if r.token_ref == f"m:{token_id}"
            and r.timecreated >= DAY_START
            and r.error_code not in ("ratelimitexceeded", "invalidrequestmethod")
        )


async def test_list_shows_tokens_with_todays_use_against_the_limit(site):
    ids = make_tokens(site)
    assert (used_today(site, ids["a"]), used_today(site, ids["b"]), used_today(site, ids["c"])) == (7, 2, 0)
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, "3")
        table = app.screen.query_one("#tokens-table", DataTable)
        assert table.row_count == 3
        assert row_cells(table, str(ids["a"])) == [
            str(ids["a"]),
            "Power BI",
            "1 Northwind Logistics",
            "active",
            "7/100",
            "2026-03-02 09:58",
            "never",
            "2026-03-01 10:00",
        ]
        assert row_cells(table, str(ids["b"])) == [
            str(ids["b"]),
            "Tableau",
            "2 Contoso Manufacturing",
            "revoked",
            "2/5",
            "never",
            "2026-04-01 09:00",
            "2026-03-02 09:00",
        ]
        assert row_cells(table, str(ids["c"]))[3:7] == ["expired", "0/100", "never", "2026-02-26 10:00"]
        summary = static_text(app.screen.query_one("#tokens-summary", Static))
        assert "API tokens: 3" in summary and "active 1" in summary and "calls today 9" in summary


async def test_created_token_works_is_shown_once_copied_and_audited(site):
    app = site.app(actor="carol")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, "3")
        await pilot.press("n")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, TokenCreateDialog)
        dialog.query_one("#token-company", Select).value = 2
        await type_into(pilot, dialog.query_one("#token-name", Input), "BI prod")
        await type_into(pilot, dialog.query_one("#token-expires", Input), "30")
        await type_into(pilot, dialog.query_one("#token-ip", Input), "10.0.0.0/8")
        await pilot.press("ctrl+s")
        await settle(pilot)
        shown = app.screen
        assert isinstance(shown, TokenShownDialog)
        token = shown.result["token"]
        assert static_text(shown.query_one("#token-value", Static)) == token
        assert "shown ONLY NOW" in " ".join(static_text(w) for w in shown.query(".dialog-warning"))
        await pilot.press("c")
        assert app.clipboard == token  # App.copy_to_clipboard: the OSC 52 sequence
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen.__class__.__name__ == "TokensScreen"
        table = app.screen.query_one("#tokens-table", DataTable)
        assert row_cells(table, str(shown.result["id"]))[1:3] == ["BI prod", "2 Contoso Manufacturing"]
    assert len(token) == 32
    with site.db.connection_context():
        rows = list(ApiToken.select())
        assert len(rows) == 1
        row = rows[0]
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in json.dumps([str(v) for v in row.__data__.values()])
        assert (row.companyid, row.name, row.iprestriction, row.expires_at, row.created_by) == (
            2,
            "BI prod",
            "10.0.0.0/8",
            CONSOLE_NOW + 30 * 86_400,
            "carol",
        )
        principal = token_service.authenticate(token, "10.1.2.3", CONSOLE_NOW)
        assert principal.companyid == 2
        with pytest.raises(token_service.AuthError):
            token_service.authenticate(token, "192.0.2.1", CONSOLE_NOW)  # outside the IP restriction
        audits = list(Audit.select())
        assert [(a.actor, a.action, a.target) for a in audits] == [
            ("carol", "token.create", f"token:{row.id}")
        ]
        assert token not in audits[0].details


@pytest.mark.parametrize(
    ("field", "text", "problem"),
    [
        ("#token-expires", "abc", "not a whole number of days"),
        ("#token-expires", "0", "not a whole number of days"),
        ("#token-ip", "300.1.1.1", "not an IP address or CIDR network"),
    ],
)
async def test_invalid_token_requests_are_refused_and_nothing_is_stored(site, field, text, problem):
    app = site.app(actor="carol")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, "3")
        await pilot.press("n")
        await settle(pilot)
        dialog = app.screen
        dialog.query_one("#token-company", Select).value = 1
        await type_into(pilot, dialog.query_one(field, Input), text)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is dialog
        assert problem in static_text(dialog.query_one("#token-error", Static))
        await pilot.press("escape")
        await pilot.pause()
    with site.db.connection_context():
        assert ApiToken.select().count() == 0
        assert Audit.select().count() == 0


async def test_a_company_is_required(site):
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, "3")
        await pilot.press("n")
        await settle(pilot)
        dialog = app.screen
        dialog.query_one("#token-company", Select).clear()
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "Choose the company" in static_text(dialog.query_one("#token-error", Static))
    with site.db.connection_context():
        assert ApiToken.select().count() == 0


async def test_revoke_needs_confirmation_and_is_audited(site):
    with site.db.connection_context():
        token, row = token_service.create_token(1, name="to revoke", actor="setup", now=CONSOLE_NOW)
    app = site.app(actor="dave")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, "3")
        table = app.screen.query_one("#tokens-table", DataTable)
        table.focus()
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")  # cancel
        await settle(pilot)
        with site.db.connection_context():
            assert ApiToken.get_by_id(row.id).revoked_at == 0
            assert Audit.select().where(Audit.action == "token.revoke").count() == 0
            token_service.authenticate(token, "127.0.0.1", CONSOLE_NOW)  # still works
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert row_cells(table, str(row.id))[3] == "revoked"
    with site.db.connection_context():
        assert ApiToken.get_by_id(row.id).revoked_at == CONSOLE_NOW
        audits = list(Audit.select().where(Audit.action == "token.revoke"))
        assert [(a.actor, a.target) for a in audits] == [("dave", f"token:{row.id}")]
        with pytest.raises(token_service.AuthError) as info:
            token_service.authenticate(token, "127.0.0.1", CONSOLE_NOW)
        assert info.value.errorcode == "accessexception"


async def test_create_token_action_is_callable_from_elsewhere(site):
    """The Control Center's quick action calls ``action_create_token`` on this screen."""
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, "3")
        app.screen.action_create_token(companyid=3)
        await settle(pilot)
        assert isinstance(app.screen, TokenCreateDialog)
        assert app.screen.query_one("#token-company", Select).value == 3


# --- snapshots ------------------------------------------------------------------------------------

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_tokens(snap_compare, tmp_path, monkeypatch, no_cursor_blink, size):
    site = snapshot_site(tmp_path, monkeypatch)
    make_tokens(site)

    async def run_before(pilot):
        await open_screen(pilot, "3")

    assert snap_compare(site.app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_token_create_dialog(snap_compare, tmp_path, monkeypatch, no_cursor_blink, size):
    site = snapshot_site(tmp_path, monkeypatch)

    async def run_before(pilot):
        await open_screen(pilot, "3")
        await pilot.press("n")
        await settle(pilot)
        pilot.app.screen.query_one("#token-company", Select).value = 1
        await type_into(pilot, pilot.app.screen.query_one("#token-name", Input), "Power BI")

    assert snap_compare(site.app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_token_shown_once(snap_compare, tmp_path, monkeypatch, no_cursor_blink, size):
    site = snapshot_site(tmp_path, monkeypatch)
    result = {
        "token": "0123456789abcdef0123456789abcdef",
        "id": 7,
        "companyid": 1,
        "company": "Northwind Logistics",
        "name": "Power BI",
        "expires": None,
        "iprestriction": "10.0.0.0/8",
    }

    async def run_before(pilot):
        await open_screen(pilot, "3")
        pilot.app.push_screen(TokenShownDialog(result, "never"))
        await pilot.pause()

    assert snap_compare(site.app(), terminal_size=size, run_before=run_before)


async def test_command_palette_lists_and_runs_the_screens_actions(site):
    """Every action of the footer is also in the command palette (ctrl+p), with its key and id."""
    from textual.command import CommandPalette

    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, "3")
        app.screen.query_one("#tokens-table", DataTable).focus()
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"New token")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, TokenCreateDialog)


async def test_binding_ids_can_be_remapped_in_the_config(db_url, tmp_path):
    from alxapi.config import load_config

    site = build_console_site(db_url)
    config_file = tmp_path / "alx.toml"
    config_file.write_text('[keymap]\n"tokens.create" = "f6"\n')
    site.config = load_config(
        flags={"database_url": db_url, "timezone": "UTC"}, env={}, config_path=config_file
    )
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, "3")
        app.screen.query_one("#tokens-table", DataTable).focus()
        await pilot.press("n")  # no longer bound
        await settle(pilot)
        assert app.screen.__class__.__name__ == "TokensScreen"
        await pilot.press("f6")
        await settle(pilot)
        assert isinstance(app.screen, TokenCreateDialog)
