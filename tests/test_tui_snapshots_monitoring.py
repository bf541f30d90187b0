"""SVG snapshots of the Control Center, the three Monitoring tabs and Alerts, at 80×24 and 120×40,
on the deterministic demo site (SQLite, fixed clock, seeded week of history).

Update the baselines with ``pytest tests/test_tui_snapshots_monitoring.py --snapshot-update`` and
look at them (``tests/__snapshots__/test_tui_snapshots_monitoring/``) before committing.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input

from alxapi.alerts.lifecycle import raise_alert

from .support.tui_helpers import CONSOLE_NOW, build_console_site

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.fixture(autouse=True)
def no_cursor_blink(monkeypatch):
    """A blinking cursor makes screenshots depend on timing (harlequin does the same)."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


@pytest.fixture
def site(tmp_path):
    site = build_console_site(f"sqlite:///{tmp_path / 'console.sqlite3'}")
    with site.db.connection_context():
        raise_alert(
            "sync_failed",
            "high",
            "sync",
            "Sync failed: OperationalError: lost connection to the database server",
            {"run": 3},
            now=CONSOLE_NOW - 7200,
            cooldown_seconds=0,
        )
        raise_alert(
            "failed_auth",
            "critical",
            "203.0.113.45",
            "21 failed authentications from 203.0.113.45 in 10 minutes",
            None,
            now=CONSOLE_NOW - 3600,
            cooldown_seconds=0,
        )
        raise_alert(
            "rate_limit",
            "medium",
            "company:2",
            "Contoso Manufacturing exceeded its daily rate limit",
            None,
            now=CONSOLE_NOW - 1800,
            cooldown_seconds=0,
        )
    return site


def _keys(*keys: str):
    async def run_before(pilot) -> None:
        app = pilot.app
        await app.workers.wait_for_complete()
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await app.workers.wait_for_complete()
            await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_control_center(snap_compare, site, size):
    assert snap_compare(site.app(), terminal_size=size, run_before=_keys())


@pytest.mark.parametrize("size", SIZES)
def test_monitoring_autosync(snap_compare, site, size):
    assert snap_compare(site.app(), terminal_size=size, run_before=_keys("4"))


@pytest.mark.parametrize("size", SIZES)
def test_monitoring_performance(snap_compare, site, size):
    assert snap_compare(site.app(), terminal_size=size, run_before=_keys("4", "e"))


@pytest.mark.parametrize("size", SIZES)
def test_monitoring_security(snap_compare, site, size):
    assert snap_compare(site.app(), terminal_size=size, run_before=_keys("4", "s"))


@pytest.mark.parametrize("size", SIZES)
def test_alerts(snap_compare, site, size):
    assert snap_compare(site.app(), terminal_size=size, run_before=_keys("5"))


@pytest.mark.parametrize("size", SIZES)
def test_alerts_resolve_confirmation(snap_compare, site, size):
    assert snap_compare(site.app(), terminal_size=size, run_before=_keys("5", "down", "x"))
