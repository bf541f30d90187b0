"""The Reports screen's schedules (SPEC §8.6) and its saved-report form (§8.5).

``SchedulesDialog`` lists every schedule with its next and last run (status and error), pauses or
resumes one (``x``), runs one now (``g``) and adds one for the report and company chosen on the
screen. ``SavedReportDialog`` adds a saved SQL report from a file; the validator's refusal is shown
in place and nothing is stored. All database work goes through :func:`alxtui.actions.run_action`.
"""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, DataTable, Footer, Input, Select, Static

from alxapi.analytics.reports import ReportError
from alxapi.savedsql import store as saved_store
from alxapi.savedsql.validator import Refused
from alxapi.schedules import runner as schedule_runner
from alxapi.schedules import store as schedule_store

from ..actions import ActionDone, ActionRefused, Outcome, run_action
from ..widgets import fmt
from ..widgets.tables import current_key, ensure_columns, sync_rows
from .confirm import form_row

COLUMNS = [
    ("id", "Id"),
    ("report", "Report"),
    ("company", "Co."),
    ("when", "When"),
    ("next", "Next"),
    ("last", "Last run"),
]


class SchedulesDialog(ModalScreen[None]):
    BINDINGS = [
        Binding("x", "toggle", "Pause/resume", id="schedules.toggle"),
        Binding("g", "run_now", "Run now", id="schedules.run_now"),
        Binding("ctrl+s", "add", "Add", id="schedules.add"),
        Binding("escape", "cancel", "Close", id="dialog.cancel"),
    ]

    def __init__(self, ctx, report: str, companyid: int | None) -> None:
        super().__init__()
        self.ctx = ctx
        self.report = report
        self.companyid = companyid
        self.rows: list[dict] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide-dialog", id="schedules-dialog"):
            yield Static("Scheduled reports", classes="dialog-title")
            yield DataTable(id="schedules-table", cursor_type="row", zebra_stripes=True)
            target = (
                f"{self.report} for company {self.companyid}"
                if self.companyid
                else "(choose a company first)"
            )
            yield Static(fmt.plain(f"Add: {target}"), classes="dialog-text")
            with Horizontal(classes="form-row"):
                yield Select(
                    [(f, f) for f in ("csv", "xlsx", "pdf")],
                    value="csv",
                    allow_blank=False,
                    id="schedule-format",
                    compact=True,
                )
                yield Select(
                    [(e, e) for e in ("daily", "weekly", "monthly")],
                    value="daily",
                    allow_blank=False,
                    id="schedule-every",
                    compact=True,
                )
                yield Input("06:00", id="schedule-at", compact=True)
            yield form_row(
                "E-mail to",
                Input(placeholder="a@example.com, b@example.com", id="schedule-emails", compact=True),
            )
            yield Static("", id="schedules-message", classes="dialog-error")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        self.query_one("#schedules-table", DataTable).focus()

    def reload(self) -> None:
        run_action(
            self,
            "load",
            lambda: Outcome("loaded", data=schedule_store.listing()),
            failed="cannot load schedules",
        )

    def on_action_done(self, message: ActionDone) -> None:
        message.stop()
        if message.action == "load" and message.ok:
            self.show_rows(message.data)
            return
        self.query_one("#schedules-message", Static).update(fmt.plain(message.text))
        if message.action != "load":
            self.reload()

    def show_rows(self, rows: list[dict]) -> None:
        self.rows = rows
        table = self.query_one("#schedules-table", DataTable)
        ensure_columns(table, COLUMNS)
        zone = self.ctx.config.timezone
        cells = []
        for r in rows:
            extra = {"weekly": f" {r['weekday']}", "monthly": f" d{r['monthday']}"}.get(r["every"], "")
            last = r["last_run"]
            last_text = (
                "never" if last is None else last["status"] + (f": {last['error']}" if last["error"] else "")
            )
            nxt = "paused" if not r["enabled"] else fmt.stamp(r["next_run"], zone)
            cells.append(
                (
                    str(r["id"]),
                    (
                        str(r["id"]),
                        r["report"],
                        str(r["companyid"]),
                        f"{r['every']}{extra} {r['at']}",
                        nxt,
                        last_text,
                    ),
                )
            )
        sync_rows(table, cells)

    def _selected(self) -> dict | None:
        key = current_key(self.query_one("#schedules-table", DataTable))
        return next((r for r in self.rows if str(r["id"]) == key), None)

    def action_toggle(self) -> None:
        row = self._selected()
        if row is None:
            return
        ctx, enable = self.ctx, not row["enabled"]

        def work() -> str:
            schedule_store.set_enabled(
                row["id"], enable, actor=ctx.actor, now=ctx.now(), zone=ctx.config.timezone
            )
            return f"schedule {row['id']} {'resumed' if enable else 'paused'}"

        run_action(self, "toggle", work, failed="not changed")

    def action_run_now(self) -> None:
        row = self._selected()
        if row is None:
            return
        ctx = self.ctx

        def work() -> Outcome:
            outcome = schedule_runner.run_now(row["id"], ctx.config, ctx.now(), actor=ctx.actor)
            last = schedule_store.runs(row["id"], limit=1)[0]
            if outcome != "sent":
                return Outcome(f"schedule {row['id']} failed: {last['error']}", ok=False)
            return Outcome(f"schedule {row['id']} sent: {last['rows']:,} rows")

        self.query_one("#schedules-message", Static).update(f"running schedule {row['id']}…")
        run_action(self, "run", work, failed="not sent")

    def action_add(self) -> None:
        if not self.companyid:
            self.query_one("#schedules-message", Static).update(
                "choose a company on the Reports screen first"
            )
            return
        ctx = self.ctx
        emails = tuple(
            e.strip() for e in self.query_one("#schedule-emails", Input).value.split(",") if e.strip()
        )
        spec = schedule_store.NewSchedule(
            report=self.report,
            companyid=self.companyid,
            format=str(self.query_one("#schedule-format", Select).value),
            every=str(self.query_one("#schedule-every", Select).value),
            at=self.query_one("#schedule-at", Input).value.strip(),
            emails=emails,
        )

        def work() -> str:
            try:
                row = schedule_store.add(spec, actor=ctx.actor, now=ctx.now(), zone=ctx.config.timezone)
            except ReportError as exc:
                raise ActionRefused(str(exc)) from None
            return f"schedule {row.id} added"

        run_action(self, "add", work, failed="not added", expected=(ActionRefused,))

    def action_cancel(self) -> None:
        self.dismiss(None)


class SavedReportDialog(ModalScreen[str | None]):
    """Name, SQL file, title, shared with the API → ``savedsql.store.add``; dismisses with the name."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "Save", id="reports.saved_submit"),
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
    ]

    def __init__(self, ctx) -> None:
        super().__init__()
        self.ctx = ctx

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="saved-dialog"):
            yield Static("Add a saved SQL report", classes="dialog-title")
            yield form_row(
                "Name", Input(placeholder="e.g. completions-by-course", id="saved-name", compact=True)
            )
            yield form_row(
                "SQL file", Input(placeholder="path to a .sql file", id="saved-file", compact=True)
            )
            yield form_row("Title", Input(id="saved-title", compact=True))
            yield Checkbox("share with API tokens (uses :companyid)", False, id="saved-api", compact=True)
            yield Static("", id="saved-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save (ctrl+s)", id="save", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#saved-name", Input).focus()

    def action_submit(self) -> None:
        name = self.query_one("#saved-name", Input).value.strip()
        path = self.query_one("#saved-file", Input).value.strip()
        title = self.query_one("#saved-title", Input).value.strip()
        api = self.query_one("#saved-api", Checkbox).value
        ctx = self.ctx

        def work() -> Outcome:
            try:
                sql = Path(path).expanduser().read_text(encoding="utf-8")
            except OSError as exc:
                raise ActionRefused(f"cannot read {path or '(no file)'}: {exc.strerror or exc}") from None
            try:
                saved_store.add(name, sql, title=title, api=api, actor=ctx.actor, now=ctx.now(),
                                allowed_tables=ctx.config.report_allowed_tables)  # fmt: skip
            except Refused as exc:
                raise ActionRefused(f"refused: {exc}") from None
            return Outcome(f"saved report {name}", data=name)

        run_action(self, "save", work, failed="not saved", expected=(ActionRefused,))

    def on_action_done(self, message: ActionDone) -> None:
        message.stop()
        if message.ok:
            self.dismiss(message.data)
        else:
            self.query_one("#saved-error", Static).update(fmt.plain(message.text))

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_cancel()
