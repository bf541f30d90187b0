"""Alerts (pilot): the list equals the database under each filter; resolving asks first, reaches
the database and the audit log; refused requests change nothing; the test alert reports channels."""

from __future__ import annotations

import json

import pytest
from textual.widgets import DataTable

from alxapi.alerts.lifecycle import raise_alert
from alxtui.screens.alerts import AlertsScreen
from models.plugin import Alert, Audit

from .support.tui_helpers import CONSOLE_NOW, build_console_site
from .support.tui_pilot import plain


@pytest.fixture
def site(db_url):
    site = build_console_site(db_url)
    with site.db.connection_context():
        raise_alert(
            "sync_failed", "high", "sync", "Sync failed", None, now=CONSOLE_NOW - 7200, cooldown_seconds=0
        )
        raise_alert(
            "failed_auth",
            "critical",
            "203.0.113.45",
            "21 failures",
            None,
            now=CONSOLE_NOW - 3600,
            cooldown_seconds=0,
        )
        raise_alert(
            "rate_limit",
            "medium",
            "company:2",
            "Contoso over its limit",
            None,
            now=CONSOLE_NOW - 1800,
            cooldown_seconds=0,
        )
        old = raise_alert(
            "cache_hit_rate",
            "low",
            "api",
            "Cache hit rate 64 %",
            None,
            now=CONSOLE_NOW - 86_400,
            cooldown_seconds=0,
        )
        Alert.update(resolved=1, resolved_by="auto", timeresolved=CONSOLE_NOW - 80_000).where(
            Alert.id == old.alert_id
        ).execute()
    return site


async def _settle(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def _open(app, pilot) -> AlertsScreen:
    await pilot.press("5")
    await _settle(app, pilot)
    assert isinstance(app.screen, AlertsScreen)
    return app.screen


def _shown(screen) -> list[int]:
    table = screen.query_one("#alerts-table", DataTable)
    return [int(row.key.value) for row in table.ordered_rows]


def _db_ids(where=None) -> list[int]:
    query = Alert.select(Alert.id).order_by(Alert.timecreated.desc(), Alert.id.desc())
    if where is not None:
        query = query.where(where)
    return [a.id for a in query]


async def test_the_list_and_filters_equal_the_database(site):
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(app, pilot)
        with site.db.connection_context():
            assert _shown(screen) == _db_ids(Alert.resolved == 0)
            await pilot.press("o")  # all
            await _settle(app, pilot)
            assert _shown(screen) == _db_ids()
            await pilot.press("o")  # resolved
            await _settle(app, pilot)
            assert _shown(screen) == _db_ids(Alert.resolved == 1)
            await pilot.press("o", "v", "v")  # open, high or worse
            await _settle(app, pilot)
            assert _shown(screen) == _db_ids((Alert.resolved == 0) & Alert.severity.in_(("high", "critical")))
            row = screen.query_one("#alerts-table", DataTable).get_row_at(0)
            assert [plain(v) for v in row[2:5]] == ["critical", "failed_auth", "203.0.113.45"]
        text = str(screen.query_one("#alerts-filter").render())
        assert text.startswith("Open, high+: 2 shown") and "open 3: 1 critical, 1 high, 1 medium" in text


async def test_resolve_asks_then_reaches_the_database_and_the_audit_log(site):
    app = site.app(actor="ops-carol")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(app, pilot)
        target = _shown(screen)[1]
        await pilot.press("down", "x")
        await pilot.pause()
        assert type(app.screen).__name__ == "ConfirmDialog"
        await pilot.press("y")
        await _settle(app, pilot)
        assert target not in _shown(screen)  # the open list no longer has it
        assert str(screen.query_one("#alerts-status").render()) == f"Alert #{target} resolved by ops-carol."
    with site.db.connection_context():
        alert = Alert.get_by_id(target)
        assert (alert.resolved, alert.resolved_by, alert.timeresolved) == (1, "ops-carol", CONSOLE_NOW)
        audit = Audit.get(Audit.action == "alert.resolve")
        assert (audit.actor, audit.target) == ("ops-carol", f"alert:{target}")
        assert json.loads(audit.details)["alert_type"] == alert.alert_type


async def test_cancelled_or_refused_resolutions_change_nothing(site):
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(app, pilot)
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("n")  # cancel the confirmation
        await _settle(app, pilot)
        await pilot.press("o", "o")  # resolved alerts
        await _settle(app, pilot)
        await pilot.press("x")  # already resolved: refused without a dialog
        await pilot.pause()
        assert isinstance(app.screen, AlertsScreen)
        assert "is already resolved" in str(screen.query_one("#alerts-status").render())
        await pilot.press("v", "v", "v")  # resolved and critical: none
        await _settle(app, pilot)
        assert _shown(screen) == []
        await pilot.press("x")
        await pilot.pause()
        assert str(screen.query_one("#alerts-status").render()) == "No alert selected: nothing to resolve."
    with site.db.connection_context():
        assert Alert.select().where(Alert.resolved == 0).count() == 3
        assert not Audit.select().where(Audit.action == "alert.resolve").exists()


async def test_send_test_alert_reports_each_channel(db_url, tmp_path):
    # A webhook nobody listens on: the channel's failure is reported, the alert still recorded.
    site = build_console_site(db_url, alert_webhook_url="http://127.0.0.1:9/hook")
    app = site.app(actor="ops-dan")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(app, pilot)
        await pilot.press("t")
        await _settle(app, pilot)
        status = str(screen.query_one("#alerts-status").render())
        assert status.startswith("Test alert: webhook FAILED"), status
        await pilot.press("o")  # the test alert is resolved at once: shown under "all"
        await _settle(app, pilot)
        with site.db.connection_context():
            test = Alert.get(Alert.alert_type == "test")
            assert _shown(screen)[0] == test.id
    with site.db.connection_context():
        assert test.subject == "test by ops-dan"
        audit = Audit.get(Audit.action == "alert.test")
        assert audit.actor == "ops-dan" and json.loads(audit.details)["channels"] == {"webhook": "failed"}


async def test_send_test_alert_without_channels(site):
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(app, pilot)
        await pilot.press("t")
        await _settle(app, pilot)
        assert "no e-mail or webhook is configured" in str(screen.query_one("#alerts-status").render())
    with site.db.connection_context():
        assert Alert.select().where(Alert.alert_type == "test").count() == 1
