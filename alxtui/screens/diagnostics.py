"""Diagnostics: database latency, tables (repair), worker heartbeat, API, effective config.

Health: database reachability and ``SELECT 1`` latency, the schema summary, every worker host's
heartbeat (age from the console's clock), the API's ``/healthz`` (status and latency, or why it is
unreachable). Tables: the ``alx check`` report, with the same repair as ``alx check --repair``
(confirmed, audited). Config: every effective setting and where it came from (secrets masked).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import peewee
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from alxapi.errors import first_line
from alxapi.ops import diagnostics
from alxapi.timefmt import DateFormatter

from ..actions import ActionDone
from ..dialogs import ConfirmDialog
from ..widgets.screenbar import ScreenBar
from ..widgets.tables import ensure_columns, sync_rows
from .base import LiveScreen

log = logging.getLogger("alxtui")

TABLE_COLUMNS = (("table", "Table"), ("owner", "Owner"), ("state", "State"), ("problem", "Problem"))
CONFIG_COLUMNS = (("name", "Setting"), ("value", "Value"), ("source", "Source"))


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f} ms" if value < 1 else f"{value:.1f} ms"


def _age(seconds: int | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172_800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86_400} days"


class DiagnosticsScreen(LiveScreen):
    TITLE = "Diagnostics"
    #: Timer of the latency figures (a test hook: snapshots replace it with a fixed-step counter).
    timer = staticmethod(time.perf_counter)
    API_TIMEOUT = 2.0
    DB_SAMPLES = 3

    BINDINGS = [
        Binding("h", "show_tab('health')", "Health", id="diagnostics.health"),
        Binding("t", "show_tab('tables')", "Tables", id="diagnostics.tables"),
        Binding("c", "show_tab('config')", "Config", id="diagnostics.config"),
        Binding("R", "repair", "Repair tables", key_display="shift+r", id="diagnostics.repair"),
    ]

    @dataclass
    class ApiProbed(Message):
        probe: diagnostics.ApiProbe

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.data: dict | None = None
        self.repairing = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield ScreenBar()
        with TabbedContent(initial="health", id="diag-tabs"):
            with TabPane("Health", id="health"):
                yield Static("checking…", id="diag-health")
            with TabPane("Tables", id="tables"):
                yield Static("", id="diag-tables-summary", classes="section-title")
                yield DataTable(id="diag-tables", cursor_type="row", zebra_stripes=True)
            with TabPane("Config", id="config"):
                yield Static("", id="diag-config-file", classes="section-title")
                yield DataTable(id="diag-config", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        ensure_columns(self.query_one("#diag-tables", DataTable), TABLE_COLUMNS)
        ensure_columns(self.query_one("#diag-config", DataTable), CONFIG_COLUMNS)
        super().on_mount()

    # --- data -----------------------------------------------------------------------------------
    def fetch(self) -> dict:
        ctx = self.ctx
        now = ctx.now()
        data = {"now": now, "database": diagnostics.probe_database(ctx.db, self.DB_SAMPLES, timer=self.timer)}
        # Each check stands alone: a damaged table must not hide the rest of the diagnosis.
        for key, check in (
            ("tables", lambda: diagnostics.check_tables(ctx.db, ctx.config)),
            ("workers", lambda: diagnostics.worker_heartbeats(now)),
            ("jobs", diagnostics.worker_jobs),
        ):
            try:
                data[key] = check()
            except peewee.DatabaseError as exc:
                log.warning("diagnostics: %s check failed: %s", key, exc)
                data[key] = f"cannot be read: {first_line(exc)}"
        data["api"] = diagnostics.probe_api(ctx.api_base, self.API_TIMEOUT, timer=self.timer)
        return data

    def show(self, data: dict) -> None:
        self.data = data
        self._render_health(data)
        if isinstance(data["tables"], diagnostics.TablesReport):
            self._render_tables(data["tables"])
        self._render_config()
        self.refresh_bindings()

    def show_error(self, error: str) -> None:
        # The database could not even be opened: say so, and still check the API and show the config.
        self.data = None
        self._render_health(
            {
                "now": self.ctx.now(),
                "database": diagnostics.DatabaseProbe("?", False, error=error),
                "tables": None,
                "workers": None,
                "api": None,
            }
        )
        self._render_config()
        self.run_worker(
            self._probe_api_only, thread=True, group="api-probe", exclusive=True, name="probe API"
        )

    def _probe_api_only(self) -> None:
        self.post_message(
            self.ApiProbed(diagnostics.probe_api(self.ctx.api_base, self.API_TIMEOUT, timer=self.timer))
        )

    def on_diagnostics_screen_api_probed(self, message: ApiProbed) -> None:
        self._render_health(
            {
                "now": self.ctx.now(),
                "database": diagnostics.DatabaseProbe("?", False, error=self.last_error or "unreachable"),
                "tables": None,
                "workers": None,
                "api": message.probe,
            }
        )

    # --- rendering ------------------------------------------------------------------------------
    def _render_health(self, data: dict) -> None:
        grid = Table.grid(padding=(0, 2), expand=True)
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(ratio=1)
        db: diagnostics.DatabaseProbe = data["database"]
        if db.reachable:
            grid.add_row(
                "Database",
                Text.assemble(
                    (f"{db.backend} reachable", "green"),
                    f" · SELECT 1 avg {_ms(db.avg_ms)} (min {_ms(db.min_ms)}, max {_ms(db.max_ms)}; "
                    f"{len(db.samples_ms)} samples)",
                ),
            )
        else:
            grid.add_row("Database", Text(f"UNREACHABLE: {db.error}", style="bold red"))
        tables = data["tables"]
        if isinstance(tables, str):
            grid.add_row("Tables", Text(tables, style="red"))
        elif tables is not None:
            report = tables.report
            ours = [t for t in report.tables if t.owner == "plugin"]
            moodle = [t for t in report.tables if t.owner == "moodle"]
            bad = [t for t in report.tables if not t.ok]
            text = (
                f"schema {report.schema_version} of {report.latest_version} · ALX tables "
                f"{sum(t.ok for t in ours)}/{len(ours)} ok · Moodle/IOMAD tables {sum(t.ok for t in moodle)}/"
                f"{len(moodle)} ok"
            )
            if tables.moodle_problem:
                grid.add_row("Tables", Text(text + " · " + tables.moodle_problem, style="red"))
            elif bad or report.schema_version < report.latest_version:
                grid.add_row("Tables", Text(text + " · problems: t shows them, shift+r repairs", style="red"))
            else:
                grid.add_row("Tables", Text(text, style="green"))
        workers = data["workers"]
        if isinstance(workers, str):
            grid.add_row("Worker", Text(f"heartbeats {workers}", style="red"))
        elif workers is not None:
            if not workers:
                grid.add_row(
                    "Worker",
                    Text(
                        "no heartbeat: is `alx worker` running? (systemctl status alx-worker)", style="yellow"
                    ),
                )
            date = DateFormatter(self.ctx.config.timezone).format
            for beat in workers:
                state = Text("alive", style="green") if beat["alive"] else Text("STALE", style="bold red")
                job = beat["info"].get("job") or beat["info"].get("state") if beat["info"] else None
                grid.add_row(
                    "Worker",
                    Text.assemble(
                        f"{beat['hostname']} pid {beat['pid']}: last beat {date(beat['timebeat'])} "
                        f"({_age(beat['age_seconds'])} ago) · ",
                        state,
                        f" · {job}" if job else "",
                    ),
                )
        jobs = data.get("jobs")
        if isinstance(jobs, list):
            date = DateFormatter(self.ctx.config.timezone).format
            for j in jobs:
                style = {"ok": "green", "skipped": "yellow"}.get(j["status"], "bold red")
                grid.add_row(
                    f"Job {j['name']}",
                    Text.assemble(
                        (j["status"], style),
                        f" at {date(j['started'])} ({j['seconds']:.2f} s): {j['detail']}",
                    ),
                )
        api: diagnostics.ApiProbe | None = data["api"]
        if api is None:
            grid.add_row("API", Text(f"{self.ctx.api_base}/healthz: checking…", style="dim"))
        elif api.reachable:
            healthy = api.status == 200 and api.health in ("ok", "")
            grid.add_row(
                "API",
                Text.assemble(
                    f"{api.url} · ",
                    (f"HTTP {api.status} {api.health}".strip(), "green" if healthy else "red"),
                    f" in {_ms(api.latency_ms)}",
                ),
            )
        else:
            grid.add_row("API", Text(f"{api.url} · unreachable: {api.error}", style="red"))
        self.query_one("#diag-health", Static).update(grid)

    def _render_tables(self, tables: diagnostics.TablesReport) -> None:
        report = tables.report
        rows = [
            (
                t.table,
                (
                    t.table,
                    t.owner,
                    Text("ok", style="green") if t.ok else Text("PROBLEM", style="bold red"),
                    t.problem,
                ),
            )
            for t in report.tables
        ]
        sync_rows(self.query_one("#diag-tables", DataTable), rows)
        bad = sum(not t.ok for t in report.tables)
        summary = f"Schema {report.schema_version} of {report.latest_version} · " + (
            f"{bad} table(s) with problems · shift+r repairs the ALX tables"
            if bad or not tables.healthy
            else "every table ok"
        )
        self.query_one("#diag-tables-summary", Static).update(summary)

    def _render_config(self) -> None:
        config = self.ctx.config
        sync_rows(
            self.query_one("#diag-config", DataTable),
            [(name, (name, value, source)) for name, value, source in diagnostics.effective_config(config)],
        )
        self.query_one("#diag-config-file", Static).update(
            f"Config file: {config.file or '(none found)'} · precedence: flags > environment > file > defaults"
        )

    # --- actions --------------------------------------------------------------------------------
    def action_show_tab(self, tab: str) -> None:
        self.query_one("#diag-tabs", TabbedContent).active = tab

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "repair":
            return None if self.repairing else True
        return True

    def action_repair(self) -> None:
        tables = self.data["tables"] if self.data else None
        if not isinstance(tables, diagnostics.TablesReport):
            self.notify(
                "The tables have not been checked yet (the database may be unreachable).", severity="warning"
            )
            return
        if tables.moodle_problem:
            self.notify(tables.moodle_problem + " Nothing can be repaired.", severity="error", timeout=10)
            return
        if not tables.repairable:
            self.notify("Every ALX table is healthy: nothing to repair.", title="Repair", timeout=4)
            return
        problems = [f"{t.table}: {t.problem}" for t in tables.report.repairable]
        if tables.report.schema_version < tables.report.latest_version:
            problems.insert(0, f"schema {tables.report.schema_version} → {tables.report.latest_version}")

        def answer(confirmed: bool | None) -> None:
            if confirmed and self.start_action(
                "repair", self._repair, failed="Repair failed", expected=(diagnostics.RepairRefused,)
            ):
                self.repairing = True
                self.refresh_bindings()

        self.app.push_screen(
            ConfirmDialog(
                "Repair the ALX tables?",
                "This runs what `alx check --repair` runs: missing ALX tables, columns and indexes are created "
                "(Moodle's tables are never touched). To fix:\n  "
                + "\n  ".join(problems[:8])
                + ("\n  …" if len(problems) > 8 else ""),
                "Repair",
            ),
            answer,
        )

    def _repair(self) -> str:
        ctx = self.ctx
        actions = diagnostics.repair_tables(ctx.db, ctx.config, ctx.actor, ctx.now())
        return ("Repaired: " + "; ".join(actions)) if actions else "Nothing needed repairing."

    def action_done(self, message: ActionDone) -> None:
        self.repairing = False
        self.notify(
            message.text,
            title="Repair" if message.ok else "Repair failed",
            severity="information" if message.ok else "error",
            timeout=8 if message.ok else 10,
        )
        self.refresh_bindings()
        if message.ok:
            self.request_refresh()
