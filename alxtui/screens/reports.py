"""Reports: pick a built-in report (SPEC §8.4) and a company, fill its parameters, read the rows,
export them (CSV, XLSX, PDF) with the same exporter as `alx report run`.

The report runs in a thread worker (``LiveScreen.fetch``): a large company never blocks the keys.
What to run is captured on the UI thread (``self.choice``) before each run; the worker never reads
widgets. A parameter the report refuses is shown in place, with the report's parameters.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from time import perf_counter

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Header, Input, Label, Select, Static

from alxapi.access import companies
from alxapi.analytics.reports import FLOAT, INT, REPORTS, REPORTS_BY_NAME, ReportError, get_report
from alxapi.analytics.service import run_report
from alxapi.exports.reports import DisplayText, Heading, default_filename, export_report
from alxapi.exports.writers import ExportError
from alxapi.savedsql import store as saved_reports
from alxapi.savedsql.runner import Stopped

from ..actions import ActionDone, Outcome
from ..dialogs import ExportDialog, SavedReportDialog, SchedulesDialog
from ..widgets import fmt
from ..widgets.screenbar import ScreenBar
from ..widgets.tables import ensure_columns, sync_rows
from .base import LiveScreen

ALL = 0  # the company choice "all companies" (IOMAD ids start at 1)
SHOWN_ROWS = 500  # rows put in the table; exports have them all
FILE_FORMATS = ("csv", "xlsx", "pdf")


@dataclass(frozen=True)
class Choice:
    report: str = REPORTS[0].name
    companyid: int | None = None  # None: the first company, once known
    params: dict = field(default_factory=dict)


def parse_params(text: str) -> dict[str, str]:
    """``from=2026-03-01 to=2026-03-31`` (shell quoting allowed) to a dict; ValueError says why."""
    values = {}
    for word in shlex.split(text):
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise ValueError(f"parameters are NAME=VALUE, not {word!r}")
        values[key] = value
    return values


class ReportsScreen(LiveScreen):
    TITLE = "Reports"
    LIVE = False  # runs on demand: r runs the report again

    BINDINGS = [
        Binding("s", "choose_report", "Report", id="reports.report"),
        Binding("c", "choose_company", "Company", id="reports.company"),
        Binding("a", "edit_params", "Parameters", id="reports.params"),
        Binding("e", "export", "Export", id="reports.export"),
        Binding("h", "schedules", "Schedules", id="reports.schedules"),
        Binding("f", "add_saved", "Add SQL", id="reports.add_saved"),
    ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.choice = Choice()
        self.company_names: dict[int, str] = {}
        self.saved: dict[str, str] = {}  # saved SQL reports: name -> title
        self.exporting = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield ScreenBar()
        with Horizontal(id="reports-bar", classes="choice-bar"):
            yield Label("Report")
            yield Select(
                [(r.title, r.name) for r in REPORTS],
                value=self.choice.report,
                allow_blank=False,
                id="reports-report",
                compact=True,
            )
            yield Label("Company")
            yield Select([], prompt="loading…", id="reports-company", compact=True)
        with Horizontal(id="reports-params-bar", classes="choice-bar"):
            yield Label("Parameters")
            yield Input(id="reports-params", compact=True)
        yield Static("", id="reports-about", classes="hint")
        yield Static("", id="reports-status", classes="section-title")
        yield DataTable(id="reports-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="reports-export-status", classes="hint")
        yield Footer()

    def on_mount(self) -> None:
        self._describe()
        super().on_mount()

    # --- running ----------------------------------------------------------------------------------
    def fetch(self) -> dict:
        choices = companies.company_choices()
        saved = {row.name: row.title for row in saved_reports.all_saved()}
        choice = self.choice
        ids = [cid for cid, _ in choices]
        cid = choice.companyid if choice.companyid in (*ids, ALL) else (ids[0] if ids else ALL)
        started = perf_counter()
        try:
            result = run_report(
                choice.report,
                None if cid == ALL else cid,
                choice.params,
                now=self.ctx.now(),
                config=self.ctx.config,
                actor=self.ctx.actor,
            )
        except (ReportError, Stopped) as exc:
            return {"choices": choices, "companyid": cid, "saved": saved, "error": str(exc)}
        return {
            "choices": choices,
            "companyid": cid,
            "saved": saved,
            "result": result,
            "seconds": perf_counter() - started,
        }

    def show(self, data: dict) -> None:
        self._show_companies(data["choices"], data["companyid"])
        self._show_saved(data["saved"])
        status = self.query_one("#reports-status", Static)
        table = self.query_one("#reports-table", DataTable)
        if "error" in data:
            status.update(fmt.plain(f"Cannot run: {data['error']}"))
            status.add_class("-error")
            return
        status.remove_class("-error")
        result = data["result"]
        report = result.report
        ensure_columns(table, [(c.name, c.title) for c in report.columns])
        display = DisplayText(report, self.ctx.config.timezone)
        numeric = [c.type in (INT, FLOAT) for c in report.columns]
        shown = result.rows[:SHOWN_ROWS]
        sync_rows(
            table,
            [
                (
                    # Keyed rows keep their table row across runs; a saved report's rows go by position.
                    "|".join(str(v) for v in report.key_of(row)) if report.key else f"#{index}",
                    [
                        Text(v, justify="right") if right else v
                        for v, right in zip(display.record(row), numeric, strict=True)
                    ],
                )
                for index, row in enumerate(shown)
            ],
        )
        more = f" · first {len(shown):,} shown (e exports all)" if len(result.rows) > len(shown) else ""
        took = f" · {data['seconds']:.1f} s" if data["seconds"] >= 1 else ""  # worth saying only when slow
        status.update(fmt.plain(f"{report.title} · {result.company} · {len(result.rows):,} rows{more}{took}"))
        self.refresh_bindings()

    def show_error(self, error: str) -> None:
        self.query_one("#reports-status", Static).update(fmt.plain(f"Cannot run: {error}"))
        super().show_error(error)

    def _show_companies(self, choices: list[tuple[int, str]], cid: int) -> None:
        names = dict(choices)
        select = self.query_one("#reports-company", Select)
        if names != self.company_names:
            self.company_names = names
            select.set_options([("All companies", ALL), *((fmt.plain(f"{i}  {n}"), i) for i, n in choices)])
            select.prompt = "choose a company"
        if select.value != cid:
            select.value = cid
        self.choice = Choice(self.choice.report, cid, self.choice.params)

    def _show_saved(self, saved: dict[str, str]) -> None:
        """Saved SQL reports (alx report add) after the built-in ones in the report list."""
        if saved == self.saved:
            return
        self.saved = saved
        select = self.query_one("#reports-report", Select)
        with select.prevent(Select.Changed):
            select.set_options(
                [(r.title, r.name) for r in REPORTS]
                + [(fmt.plain(f"{title} (saved)"), name) for name, title in saved.items()]
            )
            select.value = (
                self.choice.report if self.choice.report in (*REPORTS_BY_NAME, *saved) else REPORTS[0].name
            )

    def _describe(self) -> None:
        if self.choice.report not in REPORTS_BY_NAME:
            self.query_one("#reports-about", Static).update(
                fmt.plain("A saved SQL report (alx report show NAME): name=value for each :name it uses.")
            )
            self.query_one("#reports-params", Input).placeholder = "name=value …"
            return
        report = get_report(self.choice.report)
        params = "  ".join(f"{p.name}=… ({p.help})" for p in report.params) or "none"
        self.query_one("#reports-about", Static).update(
            fmt.plain(f"{report.description}  Parameters: {params}")
        )
        self.query_one("#reports-params", Input).placeholder = (
            " ".join(f"{p.name}=…" for p in report.params) or "this report has no parameters"
        )

    # --- choosing -------------------------------------------------------------------------------------
    @on(Select.Changed, "#reports-report")
    def _report_changed(self, event: Select.Changed) -> None:
        if not isinstance(event.value, str) or event.value == self.choice.report:
            return
        self.query_one("#reports-params", Input).value = ""
        self.choice = Choice(event.value, self.choice.companyid, {})
        self._describe()
        self.request_refresh()

    @on(Select.Changed, "#reports-company")
    def _company_changed(self, event: Select.Changed) -> None:
        if not isinstance(event.value, int) or event.value == self.choice.companyid:
            return
        self.choice = Choice(self.choice.report, event.value, self.choice.params)
        self.request_refresh()

    @on(Input.Submitted, "#reports-params")
    def _params_submitted(self, event: Input.Submitted) -> None:
        try:
            params = parse_params(event.value)
        except ValueError as exc:
            status = self.query_one("#reports-status", Static)
            status.update(fmt.plain(f"Cannot run: {exc}"))
            status.add_class("-error")
            return
        self.choice = Choice(self.choice.report, self.choice.companyid, params)
        self.query_one("#reports-table", DataTable).focus()
        self.request_refresh()

    def action_choose_report(self) -> None:
        select = self.query_one("#reports-report", Select)
        select.focus()
        select.action_show_overlay()

    def action_choose_company(self) -> None:
        select = self.query_one("#reports-company", Select)
        select.focus()
        select.action_show_overlay()

    def action_edit_params(self) -> None:
        self.query_one("#reports-params", Input).focus()

    # --- schedules and saved reports -------------------------------------------------------------------
    def action_schedules(self) -> None:
        companyid = None if self.choice.companyid in (None, ALL) else self.choice.companyid
        self.app.push_screen(SchedulesDialog(self.ctx, self.choice.report, companyid))

    def action_add_saved(self) -> None:
        def added(name: str | None) -> None:
            if name:
                self.notify(f"saved report {name} added", timeout=4)
                self.choice = Choice(name, self.choice.companyid, {})
                self._describe()
                self.request_refresh()

        self.app.push_screen(SavedReportDialog(self.ctx), added)

    # --- export ---------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "export":
            return None if self.exporting else True
        return True

    def action_export(self) -> None:
        if self.exporting:
            return
        choice, ctx = self.choice, self.ctx
        report = get_report(choice.report) if choice.report in REPORTS_BY_NAME else None
        title = report.title if report else self.saved.get(choice.report, choice.report)
        company = (
            "All companies"
            if choice.companyid in (None, ALL)
            else self.company_names.get(choice.companyid, "")
        )
        short = "all" if choice.companyid in (None, ALL) else f"company{choice.companyid}"

        def default_path(file_format: str) -> str:
            return os.path.join(
                ".", default_filename(report, short, ctx.now(), ctx.config.timezone, file_format)
            )

        def chosen(options: dict | None) -> None:
            if options:
                self.start_export(choice, options["fmt"], options["path"])

        self.app.push_screen(
            ExportDialog(
                choice.companyid or 0,
                company,
                default_path,
                title=f"Export {title} · {company}",
                formats=FILE_FORMATS,
                note="Every row of the report, as `alx report run` writes it. Written to a temporary "
                "file, renamed when complete.",
                ask_deleted=False,
            ),
            chosen,
        )

    def start_export(self, choice: Choice, file_format: str, path: str) -> None:
        self.exporting = True
        self.refresh_bindings()
        self.query_one("#reports-export-status", Static).update(fmt.plain(f"Exporting to {path}…"))
        self.start_action(
            "export",
            lambda: self._export(choice, file_format, path),
            failed="Export failed",
            expected=(ExportError, ReportError, Stopped, OSError),
        )

    def _export(self, choice: Choice, file_format: str, path: str) -> Outcome:
        ctx = self.ctx
        target = os.path.abspath(os.path.expanduser(path))
        companyid = None if choice.companyid in (None, ALL) else choice.companyid
        result = run_report(
            choice.report, companyid, choice.params, now=ctx.now(), config=ctx.config, actor=ctx.actor
        )
        count = export_report(
            result.report,
            result.rows,
            file_format,
            target,
            Heading(result.company, result.now, ctx.config.timezone),
        )
        return Outcome(f"Exported {count:,} rows ({file_format}) to {target}", data={"path": target})

    def action_done(self, message: ActionDone) -> None:
        self.exporting = False
        text = message.text if message.ok else f"{message.text} (no file written)"
        self.query_one("#reports-export-status", Static).update(fmt.plain(text))
        self.notify(text, title="Export", severity="information" if message.ok else "error", timeout=6)
        self.refresh_bindings()
