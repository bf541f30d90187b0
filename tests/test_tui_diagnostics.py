"""Diagnostics screen: database probe, the `alx check` report with its repair (confirmed, audited),
worker heartbeats aged by the console's clock, the API's /healthz over real HTTP (reachable, failing
and unreachable), and the effective configuration with sources and secrets masked."""

from __future__ import annotations

import http.server
import json
import re
import socket
import threading
from urllib.parse import urlparse

import pytest
from textual.widgets import DataTable, Static, TabbedContent

from alxapi.config import load_config
from alxapi.ops import heartbeat
from alxapi.worker import Worker
from alxtui.dialogs import ConfirmDialog
from alxtui.screens.diagnostics import DiagnosticsScreen
from models import schema
from models.db import dialect, make_database
from models.plugin import Audit, Heartbeat

from .support.tui_helpers import CONSOLE_NOW, build_console_site
from .support.tui_pilot import no_cursor_blink, open_screen, row_cells, settle, snapshot_site, static_text

__all__ = ["no_cursor_blink"]


@pytest.fixture
def site(db_url):
    return build_console_site(db_url)


class HealthServer:
    """A real HTTP server on loopback answering /healthz like the API (status chosen by the test)."""

    def __init__(self, status: int = 200, body: dict | None = None):
        payload = json.dumps(body or {"status": "ok"}).encode()
        self.paths: list[str] = []
        paths = self.paths

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                paths.append(self.path)
                self.send_response(status if self.path == "/healthz" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def health_server():
    servers = []

    def start(status: int = 200, body: dict | None = None) -> HealthServer:
        servers.append(HealthServer(status, body))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


def health_text(app) -> str:
    return static_text(app.screen.query_one("#diag-health", Static))


async def test_health_shows_database_tables_worker_and_api(site, health_server):
    server = health_server()
    with site.db.connection_context():
        heartbeat.beat("worker", CONSOLE_NOW - 42, {"job": "sync"})
        Heartbeat.insert(
            component="worker", hostname="old-host", pid=7, timebeat=CONSOLE_NOW - 3600
        ).execute()
        # What the worker records after each job.
        worker = Worker(
            site.config,
            site.db,
            clock=lambda: CONSOLE_NOW - 30,
            jobs={"sync": lambda: "incremental sync success: 3 updated", "alerts": lambda: 1 / 0},
            intervals={"sync": 60, "alerts": 60},
        )
        for job in ("sync", "alerts"):
            worker.run_job(job)
        report = schema.check(site.db)
    app = site.app(api_url=server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, "7")
        text = health_text(app)
    backend = dialect(site.db)
    assert f"{backend} reachable" in text and "SELECT 1 avg" in text and "3 samples" in text
    ours = [t for t in report.tables if t.owner == "plugin"]
    moodle = [t for t in report.tables if t.owner == "moodle"]
    assert f"schema {schema.LATEST_VERSION} of {schema.LATEST_VERSION}" in text
    assert (
        f"ALX tables {len(ours)}/{len(ours)} ok" in text
        and f"Moodle/IOMAD tables {len(moodle)}/{len(moodle)} ok" in text
    )
    host = socket.gethostname()
    assert (
        f"{host} pid" in text
        and "2026-03-02 09:59:18 (42 s ago)" in text
        and "alive" in text
        and "sync" in text
    )
    assert "old-host pid 7" in text and "(60 min ago)" in text and "STALE" in text
    assert f"{server.url}/healthz" in text and "HTTP 200 ok" in text
    assert server.paths and set(server.paths) == {"/healthz"}
    assert re.search(
        r"Job sync +ok at 2026-03-02 09:59:30 \(0\.\d\d s\): incremental sync success: 3 updated", text
    )
    assert re.search(r"Job alerts +failed at .*: ZeroDivisionError: division by zero", text)


async def test_api_answering_an_error_and_api_unreachable(site, health_server):
    failing = health_server(503, {"status": "unavailable"})
    app = site.app(api_url=failing.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, "7")
        assert "HTTP 503 unavailable" in health_text(app)
    url = closed_port_url()
    app = site.app(api_url=url)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, "7")
        text = health_text(app)
        assert f"{url}/healthz · unreachable: Connection refused" in text
        assert "no heartbeat" in text  # no worker has ever beaten on this site


async def test_tables_tab_lists_the_check_report(site):
    with site.db.connection_context():
        report = schema.check(site.db)
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, "7")
        await pilot.press("t")
        await pilot.pause()
        assert app.screen.query_one("#diag-tabs", TabbedContent).active == "tables"
        table = app.screen.query_one("#diag-tables", DataTable)
        assert table.row_count == len(report.tables)
        for t in report.tables:
            assert row_cells(table, t.table) == [t.table, t.owner, "ok", ""]
        assert "every table ok" in static_text(app.screen.query_one("#diag-tables-summary", Static))
        await pilot.press("R")  # nothing to repair: nothing happens, nothing audited
        await settle(pilot)
        assert isinstance(app.screen, DiagnosticsScreen)
    with site.db.connection_context():
        assert Audit.select().count() == 0


async def test_repair_needs_confirmation_runs_the_check_repair_and_is_audited(site):
    with site.db.connection_context():
        site.db.drop_tables([Heartbeat])
        assert not site.db.table_exists(Heartbeat._meta.table_name)
    name = Heartbeat._meta.table_name
    app = site.app(actor="erin")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, "7")
        assert "problems" in health_text(app)
        await pilot.press("t")
        table = app.screen.query_one("#diag-tables", DataTable)
        assert row_cells(table, name) == [name, "plugin", "PROBLEM", "missing"]
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert name in static_text(app.screen.query_one(".dialog-text", Static))
        await pilot.press("n")  # cancelled: nothing repaired
        await settle(pilot)
        with site.db.connection_context():
            assert not site.db.table_exists(name)
            assert Audit.select().count() == 0
        await pilot.press("R")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert row_cells(table, name) == [name, "plugin", "ok", ""]
    with site.db.connection_context():
        assert site.db.table_exists(name) and schema.check(site.db).healthy
        audits = list(Audit.select())
        assert [(a.actor, a.action, a.target) for a in audits] == [("erin", "schema.repair", "schema")]
        assert f"created {name}" in json.loads(audits[0].details)["actions"]


async def test_config_tab_shows_every_value_with_its_source_secrets_masked(site):
    rows = site.config.describe()
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, "7")
        await pilot.press("c")
        await pilot.pause()
        table = app.screen.query_one("#diag-config", DataTable)
        assert table.row_count == len(rows)
        for name, value, source in rows:
            assert row_cells(table, name) == [name, value, source]
        shown = " ".join(" ".join(row_cells(table, name)) for name, _v, _s in rows)
    assert dict((n, s) for n, _v, s in rows)["database_url"].startswith("flag")
    password = urlparse(site.url).password
    if password:  # server backends: the URL's password never reaches the screen
        assert password not in shown and "***" in shown


async def test_database_unreachable_is_shown_and_the_api_still_checked(site, health_server, tmp_path):
    server = health_server()
    broken_url = f"sqlite:///{tmp_path / 'no-such-dir' / 'x.sqlite3'}"
    app = site.app(api_url=server.url)
    app.ctx.db = make_database(broken_url)  # cannot be opened
    app.ctx.config = load_config(
        flags={"database_url": broken_url, "timezone": "UTC"}, env={}, search_paths=[]
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, "7")
        text = health_text(app)
        assert "UNREACHABLE" in text and "unable to open database file" in text
        assert "HTTP 200 ok" in text


# --- snapshots ------------------------------------------------------------------------------------

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


class StepTimer:
    """A deterministic perf_counter: every reading advances by a fixed step (0.25 ms)."""

    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 0.00025
        return self.t


def snapshot_app(tmp_path, monkeypatch):
    site = snapshot_site(tmp_path, monkeypatch)
    monkeypatch.setattr(DiagnosticsScreen, "timer", staticmethod(StepTimer()))
    with site.db.connection_context():
        Heartbeat.insert(
            component="worker",
            hostname="demo-host",
            pid=4242,
            timebeat=CONSOLE_NOW - 12,
            info='{"job": "sync"}',
        ).execute()
    return site.app()  # the API at 127.0.0.1:9 (discard): nothing listens there


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("tab", ["health", "tables", "config"])
def test_snapshot_diagnostics(snap_compare, tmp_path, monkeypatch, no_cursor_blink, size, tab):
    app = snapshot_app(tmp_path, monkeypatch)

    async def run_before(pilot):
        await open_screen(pilot, "7")
        await pilot.press(tab[0])
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
