"""Control Center (pilot): the cards equal what the database holds; quick actions reach the
database and the audit log; a sync refused by the lock says who holds it."""

from __future__ import annotations

import json

import pytest

from alxapi.alerts.lifecycle import raise_alert
from alxapi.reporting.lock import SyncLock
from alxtui.screens.control_center import ControlCenterScreen
from alxtui.widgets.cards import Card
from models.iomad import Company
from models.plugin import ApiLog, Audit, Cache, Reporting, State, SyncRun

from .support.tui_helpers import CONSOLE_NOW, build_console_site
from .support.tui_pilot import drain

DAY_START = CONSOLE_NOW - 10 * 3600  # CONSOLE_NOW is 10:00 UTC; the site's zone is UTC


@pytest.fixture
def site(db_url):
    return build_console_site(db_url)


def _card(app, card_id: str) -> Card:
    return app.screen.query_one(f"#{card_id}", Card)


async def test_cards_show_what_the_database_holds(site):
    with site.db.connection_context():
        raise_alert("sync_failed", "high", "sync", "x", None, now=CONSOLE_NOW, cooldown_seconds=0)
        raise_alert("rate_limit", "medium", "company:2", "x", None, now=CONSOLE_NOW, cooldown_seconds=0)
        today = [r for r in ApiLog.select().dicts() if DAY_START <= r["timecreated"] <= CONSOLE_NOW]
        companies = Company.select().count()
        with_rows = len({r.companyid for r in Reporting.select().where(Reporting.is_deleted == 0)})
        last = SyncRun.select().order_by(SyncRun.timestarted.desc(), SyncRun.id.desc()).first()
    errors = [r for r in today if r["error_code"]]
    hits = sum(r["cache_hit"] for r in today)
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await drain(app, pilot)
        assert isinstance(app.screen, ControlCenterScreen)
        assert _card(app, "cc-calls").value == f"{len(today):,}"
        assert _card(app, "cc-calls").detail == f"{sum(r['record_count'] for r in today):,} rows"
        assert _card(app, "cc-errors").value == f"{100 * len(errors) / len(today):.1f} %"
        assert _card(app, "cc-errors").detail == f"{len(errors)} errors"
        assert _card(app, "cc-cache").value == f"{100 * hits / (len(today) - len(errors)):.1f} %"
        avg = sum(float(r["response_time_ms"]) for r in today) / len(today)
        assert _card(app, "cc-response").value == f"{avg:.0f} ms"
        assert _card(app, "cc-companies").value == f"{with_rows} of {companies}"
        assert (
            _card(app, "cc-companies").detail
            == f"{len({r['companyid'] for r in today if r['companyid']})} calling"
        )
        assert (_card(app, "cc-alerts").value, _card(app, "cc-alerts").detail) == ("2", "worst: high")
        assert _card(app, "cc-last-sync").value == f"10:00 {last.mode}"
        assert _card(app, "cc-next-sync").value == "11:00"  # the last run + auto_sync_hours (1)
        assert _card(app, "cc-worker").value == "not seen"
        assert _card(app, "cc-health").value == "Attention"


async def test_sync_now_runs_a_sync_and_audits_it(site):
    with site.db.connection_context():
        runs_before = SyncRun.select().count()
    site.now = CONSOLE_NOW + 60
    app = site.app(actor="ops-alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await drain(app, pilot)
        await pilot.press("s")
        await drain(app, pilot)
        status = str(app.screen.query_one("#control-status").render())
        assert status.startswith("Sync success: incremental"), status
    with site.db.connection_context():
        assert SyncRun.select().count() == runs_before + 1
        run = SyncRun.select().order_by(SyncRun.id.desc()).first()
        assert (run.status, run.timestarted) == ("success", CONSOLE_NOW + 60)
        audit = Audit.get(Audit.action == "sync.run")
        assert (audit.actor, audit.target) == ("ops-alice", f"sync_run:{run.id}")
        assert json.loads(audit.details)["status"] == "success"


async def test_sync_now_names_the_holder_of_the_lock(site):
    with site.db.connection_context(), site.db.atomic():
        SyncLock(900, holder="worker-host:4242").acquire(CONSOLE_NOW - 30)
        runs_before = SyncRun.select().count()
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await drain(app, pilot)
        await pilot.press("s")
        await drain(app, pilot)
        status = str(app.screen.query_one("#control-status").render())
    assert "another sync holds the lock" in status and "worker-host:4242" in status
    assert "2026-03-02 09:59:30" in status
    with site.db.connection_context():
        assert SyncRun.select().count() == runs_before
        assert not Audit.select().where(Audit.action == "sync.run").exists()


async def test_clear_cache_empties_the_table_raises_the_epoch_and_audits(site):
    with site.db.connection_context():
        Cache.insert(cache_key="a", companyid=1, cache_data="[]", expires_at=CONSOLE_NOW + 600).execute()
        Cache.insert(cache_key="b", companyid=2, cache_data="[]", expires_at=CONSOLE_NOW + 600).execute()
    app = site.app(actor="ops-bob")
    async with app.run_test(size=(80, 24)) as pilot:
        await drain(app, pilot)
        await pilot.press("c")
        await drain(app, pilot)
        status = str(app.screen.query_one("#control-status").render())
    assert status.startswith("Cache cleared: 2 stored entries removed")
    with site.db.connection_context():
        assert Cache.select().count() == 0
        assert State.get(State.name == "cache_epoch").value_int == 1
        audit = Audit.get(Audit.action == "cache.clear")
        assert (audit.actor, json.loads(audit.details)) == ("ops-bob", {"epoch": 1, "table_entries": 2})


async def test_new_token_and_diagnostics_keys_open_their_screens(site):
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await drain(app, pilot)
        await pilot.press("n")
        await drain(app, pilot)
        # The Tokens screen's own create dialog, on top of the Tokens screen.
        assert type(app.screen).__name__ == "TokenCreateDialog"
        assert type(app.screen_stack[-2]).__name__ == "TokensScreen"
        await pilot.press("escape")
        await pilot.press("1")
        await drain(app, pilot)
        await pilot.press("d")
        await drain(app, pilot)
        assert type(app.screen).__name__ == "DiagnosticsScreen"


async def test_a_failing_refresh_is_reported_not_raised(site):
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await drain(app, pilot)
        with site.db.connection_context():
            site.db.execute_sql(f"DROP TABLE {SyncRun._meta.table_name}")
        await pilot.press("r")
        await drain(app, pilot)
        screen = app.screen
        assert isinstance(screen, ControlCenterScreen) and screen.last_error
        assert screen._timer is not None  # the poll loop goes on
