"""A deterministic demo site for console tests, on any backend, and the console app built over it."""

from __future__ import annotations

from dataclasses import dataclass

import peewee

from alxapi.analytics.timespent import refresh as refresh_time_spent
from alxapi.config import Config, load_config
from alxapi.demo.generator import generate
from alxapi.demo.traffic import seed_history
from alxapi.reporting.sync import SyncEngine, SyncOptions
from alxtui.app import AlxConsole
from alxtui.context import ConsoleContext
from models import schema
from models.db import open_database

from . import site_cache

# Fixed clock for every console test: 2026-03-02 10:00:00 UTC (a Monday), so figures and snapshots
# do not depend on when the suite runs.
CONSOLE_NOW = 1772445600


@dataclass
class ConsoleSite:
    url: str
    db: peewee.Database
    config: Config
    now: int = CONSOLE_NOW

    def app(self, *, actor: str = "tester", api_url: str | None = "http://127.0.0.1:9") -> AlxConsole:
        ctx = ConsoleContext(
            config=self.config, db=self.db, now=lambda: self.now, actor=actor, api_url=api_url
        )
        # A fixed header subtitle: the database address holds a temporary path that differs per run.
        return AlxConsole(ctx, sub_title="demo site")


def build_console_site(db_url: str, *, size: str = "tiny", history: bool = True, **settings) -> ConsoleSite:
    """Generate the demo Moodle site (seed 42), install ALX and run one full sync at CONSOLE_NOW;
    with ``history``, add a deterministic week of past sync runs and API calls (seed 42) so the
    monitoring panes show real figures. Built once per test process and copied (site_cache)."""
    config = _config(db_url, settings)

    def build(url: str) -> None:
        db = open_database(url, config.table_prefix)
        with db.connection_context():
            generate(db, config.table_prefix, size=size, seed=42, now=CONSOLE_NOW)
            schema.install(db)
            SyncEngine(
                db, SyncOptions(report_roles=list(config.report_roles)), clock=lambda: CONSOLE_NOW
            ).run()
            refresh_time_spent(db, _config(url, settings), CONSOLE_NOW)  # Insights and Reports have data
            if history:
                seed_history(CONSOLE_NOW, days=7, seed=42, tz=config.timezone)
        db.close()

    site_cache.fill(db_url, ("console", size, history, tuple(sorted(settings.items()))), build)
    return ConsoleSite(url=db_url, db=open_database(db_url, config.table_prefix), config=config)


def _config(db_url: str, settings: dict) -> Config:
    return load_config(
        flags={"database_url": db_url, "timezone": "UTC", "tui_refresh_seconds": 60, **settings},
        env={},
        search_paths=[],
    )


async def settle(pilot, rounds: int = 100) -> None:
    """Wait until the console is at rest: no worker running and every DataTable's deferred work
    (column widths of new or updated cells, done when its message queue is idle) done. A poll can
    start another from the handler of its result (a refresh asked for while one ran), so one
    ``wait_for_complete`` is not enough before a screenshot."""
    from textual.widgets import DataTable

    app = pilot.app
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()
        # A poll is over when its result has been shown (the screen's _polling), not when its thread ends.
        running = any(worker.is_running for worker in app.workers) or getattr(app.screen, "_polling", False)
        pending = any(
            table._require_update_dimensions or table._updated_cells for table in app.screen.query(DataTable)
        )
        if not running and not pending:
            return
    raise AssertionError("the console did not come to rest")
