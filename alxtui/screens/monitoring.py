"""Monitoring: Auto-Sync (default), Performance and Security tabs, as seed 002 designs them.

Each poll fetches only the visible tab's figures (:func:`alxapi.ops.monitor.autosync`,
:func:`~alxapi.ops.monitor.performance`, :func:`~alxapi.ops.monitor.security`) in a worker thread;
switching tabs asks for a poll at once. Tables are updated row by row in place.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from alxapi.ops import monitor

from ..widgets import fmt
from ..widgets.cards import Card
from ..widgets.charts import BarChart
from ..widgets.screenbar import ScreenBar
from ..widgets.tables import sync_rows
from .base import LiveScreen

TABS = ("autosync", "performance", "security")

# Column sets sized to fit 80 columns without a horizontal scrollbar.
SYNC_COLUMNS = (
    ("company", "Company"),
    ("rows", "Rows"),
    ("removed", "Gone"),
    ("changed", "Changed"),
    ("clients", "Clients"),
    ("pass", "Last pass"),
    ("status", "Pass"),
)
TOP_COLUMNS = (
    ("company", "Company"),
    ("calls", "Calls"),
    ("share", "Share"),
    ("errors", "Errors"),
    ("avg", "Avg"),
    ("cache", "Cache"),
    ("records", "Rows"),
    ("last", "Last"),
)
VIOLATION_COLUMNS = (
    ("token", "Token"),
    ("company", "Company"),
    ("refused", "Refused"),
    ("first", "First"),
    ("last", "Last"),
)
ERROR_COLUMNS = (
    ("time", "Time"),
    ("code", "Error"),
    ("company", "Company"),
    ("ip", "Address"),
    ("endpoint", "API"),
)
ENDPOINTS = {"get_course_progress": "moodle", "v1_course_progress": "v1"}


def _table(table_id: str, columns) -> DataTable:
    table = DataTable(id=table_id, cursor_type="row", zebra_stripes=True)
    for key, label in columns:
        table.add_column(label, key=key)
    return table


STATUS_WORDS = {"success": "ok", "failed": "FAILED"}


def _level(rate: float | None) -> str:
    if rate is None:
        return "none"
    return "ok" if rate >= 99.95 else "warning" if rate >= 90 else "error"


class MonitoringScreen(LiveScreen):
    TITLE = "Monitoring"
    BINDINGS = [
        Binding("a", "show_tab('autosync')", "Auto-Sync", id="monitor.autosync"),
        Binding("e", "show_tab('performance')", "Performance", id="monitor.performance"),
        Binding("s", "show_tab('security')", "Security", id="monitor.security"),
    ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tab = "autosync"  # read by fetch() in the worker thread; only the UI thread writes it
        self.data: dict[str, object] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield ScreenBar()
        with TabbedContent(initial="autosync", id="monitor-tabs"):
            with TabPane("Auto-Sync", id="autosync"), Vertical(classes="monitor-pane"):
                with Grid(classes="cards", id="sync-cards"):
                    yield Card("Companies", id="sync-companies")
                    yield Card("Last sync", id="sync-last")
                    yield Card("Next sync", id="sync-next")
                    yield Card("Status", id="sync-status")
                yield BarChart(max_value=100, id="sync-trend")
                yield _table("sync-table", SYNC_COLUMNS)
            with TabPane("Performance", id="performance"), Vertical(classes="monitor-pane"):
                with Grid(classes="cards", id="perf-cards"):
                    # Five across: titles of at most 8 characters fit at 80 columns.
                    yield Card("Calls", id="perf-calls")
                    yield Card("Response", id="perf-response")
                    yield Card("Success", id="perf-success")
                    yield Card("Cache", id="perf-cache")
                    yield Card("Records", id="perf-records")
                yield BarChart(id="perf-chart")
                yield Static("Top consumers, last 24 h", classes="section-title")
                yield _table("top-table", TOP_COLUMNS)
            with TabPane("Security", id="security"), Vertical(classes="monitor-pane"):
                with Grid(classes="cards", id="sec-cards"):
                    yield Card("Tokens", id="sec-tokens")
                    yield Card("Rate limits", id="sec-ratelimits")
                    yield Card("Failed auth", id="sec-failed")
                    yield Card("Suspicious", id="sec-suspicious")
                yield Static("Rate-limit violations, last 24 h", classes="section-title")
                yield _table("violations-table", VIOLATION_COLUMNS)
                yield Static("Recent errors", classes="section-title")
                yield _table("errors-table", ERROR_COLUMNS)
        yield Footer()

    # --- tabs -------------------------------------------------------------------------------------
    def action_show_tab(self, tab: str) -> None:
        if tab in TABS:
            self.query_one("#monitor-tabs", TabbedContent).active = tab

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        tab = event.pane.id or "autosync"
        if tab in TABS and tab != self.tab:
            self.tab = tab
            if tab in self.data:  # show what is known at once, then fresh figures
                self.show((tab, self.data[tab]))
            self.request_refresh()

    # --- data -------------------------------------------------------------------------------------
    def fetch(self) -> tuple[str, object]:
        tab, now, config = self.tab, self.ctx.now(), self.ctx.config
        if tab == "performance":
            return tab, monitor.performance(now, config)
        if tab == "security":
            return tab, monitor.security(now, config)
        return tab, monitor.autosync(now, config)

    def show(self, data: tuple[str, object]) -> None:
        tab, pane = data
        self.data[tab] = pane
        with self.app.batch_update():
            if tab == "autosync":
                self._show_autosync(pane)  # type: ignore[arg-type]
            elif tab == "performance":
                self._show_performance(pane)  # type: ignore[arg-type]
            else:
                self._show_security(pane)  # type: ignore[arg-type]

    def _card(self, card_id: str) -> Card:
        return self.query_one(f"#{card_id}", Card)

    def _show_autosync(self, p: monitor.AutoSyncPane) -> None:
        tz, now = self.ctx.config.timezone, p.now
        self._card("sync-companies").set(f"{p.companies_with_rows} of {p.companies}", "with rows")
        last = p.last_sync
        if last is None:
            self._card("sync-last").set("never", "no sync yet", state="warning")
        else:
            self._card("sync-last").set(
                f"{fmt.clock(last.timestarted, tz, now)} {last.mode}",
                f"{STATUS_WORDS.get(last.status, last.status)} · {fmt.ago(last.timestarted, now)}",
                state="error" if last.status == "failed" else None,
            )
        nxt = p.next_sync
        self._card("sync-next").set(
            "due now" if nxt.at <= now else fmt.clock(nxt.at, tz, now),
            nxt.mode if nxt.at <= now else f"{nxt.mode[:4]} · {fmt.ago(nxt.at, now)}",
        )
        stale = p.last_success is None or now - p.last_success.timestarted > 2 * 3600
        if p.consecutive_failures >= 3:
            status, state = "Failing", "error"
        elif last is not None and last.status == "failed":
            status, state = "Failed", "error"
        elif stale:
            status, state = "Stale", "warning"
        else:
            status, state = "OK", "ok"
        worker = "worker up" if p.worker.alive else "no worker"
        self._card("sync-status").set(
            status, worker, state=state if p.worker.alive or state != "ok" else "warning"
        )
        zone = ZoneInfo(tz)
        labels = []
        for d in p.days:
            day = datetime.fromtimestamp(d.day_start, zone)
            finished = d.success + d.partial + d.failed
            labels.append(f"{day:%a} {d.success + d.partial}/{finished}" if finished else f"{day:%a} –")
        rate = p.week_success_rate
        runs = sum(d.total for d in p.days)
        self.query_one("#sync-trend", BarChart).set_data(
            [d.success_rate for d in p.days],
            labels,
            levels=[_level(d.success_rate) for d in p.days],
            scale=f"Sync success per day, last {len(p.days)} days: {fmt.pct(rate)} of {fmt.count(runs)} runs",
        )
        sync_rows(
            self.query_one("#sync-table", DataTable),
            [
                (
                    str(c.companyid),
                    (
                        f"{c.companyid} {c.company}".strip(),
                        fmt.count(c.rows),
                        fmt.count(c.removed),
                        fmt.clock(c.last_change, tz, now),
                        str(c.tokens),
                        fmt.clock(c.last_pass, tz, now) if c.last_pass else "–",
                        c.pass_status or "–",
                    ),
                )
                for c in p.table
            ],
        )

    def _show_performance(self, p: monitor.PerformancePane) -> None:
        tz, now, w = self.ctx.config.timezone, p.now, p.window
        self._card("perf-calls").set(fmt.count(w.calls), f"{fmt.count(w.errors)} errors")
        self._card("perf-response").set(
            fmt.ms(w.avg_response_ms),
            f"p95 {fmt.ms(p.p95_response_ms).replace(' ', '')}",
            state="warning" if (w.avg_response_ms or 0) > 2000 else None,
        )
        self._card("perf-success").set(
            fmt.pct(w.success_rate),
            "last 24 h",
            state=None if w.success_rate is None or w.success_rate >= 95 else "warning",
        )
        self._card("perf-cache").set(
            fmt.pct(w.cache_hit_rate),
            f"{fmt.count(w.cache_hits)} hits",
            state=None if w.cache_hit_rate is None or w.cache_hit_rate >= 70 else "warning",
        )
        self._card("perf-records").set(fmt.count(w.records), "served")
        zone = ZoneInfo(tz)
        labels = [
            datetime.fromtimestamp(s.start, zone).strftime("%H") if i % 6 == 0 else ""
            for i, s in enumerate(p.series)
        ]
        peak = max((s.avg_response_ms for s in p.series if s.avg_response_ms is not None), default=None)
        self.query_one("#perf-chart", BarChart).set_data(
            [s.avg_response_ms for s in p.series],
            labels,
            levels=[
                "none"
                if s.avg_response_ms is None
                else "error"
                if s.avg_response_ms > 2000
                else "warning"
                if s.avg_response_ms > 1000
                else "ok"
                for s in p.series
            ],
            scale=f"Avg response per hour, last 24 h (peak {fmt.ms(peak)}, p95 {fmt.ms(p.p95_response_ms)})",
        )
        total = w.calls or 1
        sync_rows(
            self.query_one("#top-table", DataTable),
            [
                (
                    str(c.companyid),
                    (
                        f"{c.companyid} {c.company}" if c.companyid else "(no company)",
                        fmt.count(c.calls),
                        fmt.pct(100 * c.calls / total),
                        fmt.count(c.errors),
                        fmt.ms(c.avg_response_ms),
                        fmt.pct(100 * c.cache_hits / (c.calls - c.errors)) if c.calls > c.errors else "–",
                        fmt.count(c.records),
                        fmt.clock(c.last_call, tz, now),
                    ),
                )
                for c in p.top
            ],
        )

    def _show_security(self, p: monitor.SecurityPane) -> None:
        tz, now = self.ctx.config.timezone, p.now
        self._card("sec-tokens").set(fmt.count(p.active_tokens), f"{p.tokens_used} used 24 h")
        self._card("sec-ratelimits").set(
            fmt.count(p.violation_count),
            fmt.plural(len(p.violations), "token"),
            state="warning" if p.violations else None,
        )
        self._card("sec-failed").set(
            fmt.count(p.failed_auth),
            f"{fmt.count(p.throttled)} throttled",
            state="warning" if p.failed_auth else None,
        )
        limit = self.ctx.config.failed_auth_limit
        self._card("sec-suspicious").set(
            fmt.count(len(p.suspicious)),
            p.suspicious[0].ip_address if p.suspicious else f"none over {limit}",
            state="error" if p.suspicious else None,
        )
        sync_rows(
            self.query_one("#violations-table", DataTable),
            [
                (
                    f"{v.token_ref}|{v.companyid}",
                    (
                        f"{v.token_ref} {v.token_name}".strip(),
                        v.company or str(v.companyid),
                        fmt.count(v.count),
                        fmt.clock(v.first_seen, tz, now),
                        fmt.clock(v.last_seen, tz, now),
                    ),
                )
                for v in p.violations
            ],
        )
        sync_rows(
            self.query_one("#errors-table", DataTable),
            [
                (
                    str(e.id),
                    (
                        fmt.clock(e.timecreated, tz, now),
                        e.error_code,
                        e.company or ("–" if not e.companyid else str(e.companyid)),
                        e.ip_address,
                        ENDPOINTS.get(e.endpoint, e.endpoint),
                    ),
                )
                for e in p.errors
            ],
        )
