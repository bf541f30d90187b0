"""Data & export: browse a company's reporting rows; export CSV/XLSX.

Rows are those the company's API clients see (enabled courses, enabled fields, dates in the
configured zone), read a page at a time by key (``export.browse_page``): a company of 100,000 rows
costs one page of SQL per page shown. Deleted (tombstoned) rows are hidden unless switched on.
Exports run ``export.export_company`` — the same function as ``alx export`` — in a thread worker,
reporting progress as messages; the file appears only when complete.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Label, Select, Static

from alxapi.access import companies
from alxapi.exports import company as export_service

from ..actions import ActionDone, Outcome
from ..dialogs import ExportDialog
from ..widgets import fmt
from ..widgets.screenbar import ScreenBar
from ..widgets.tables import ensure_columns, sync_rows
from .base import LiveScreen

log = logging.getLogger("alxtui")

NUMERIC = {"userid", "courseid", "timecompleted_unix", "timestarted_unix", "percentage", "deleted"}


def _cell(column: str, value) -> object:
    if column == "percentage":
        return Text(f"{value:.2f}", justify="right")
    if column in NUMERIC:
        return Text(str(value), justify="right")
    return "" if value is None else str(value)


class DataScreen(LiveScreen):
    TITLE = "Data & export"
    LIVE = False  # loads on demand: r reloads the page shown
    PAGE_SIZE = 50

    BINDINGS = [
        Binding("c", "choose_company", "Company", id="data.company"),
        Binding("left_square_bracket", "prev_page", "Prev page", key_display="[", id="data.prev_page"),
        Binding("right_square_bracket", "next_page", "Next page", key_display="]", id="data.next_page"),
        Binding("d", "toggle_deleted", "Deleted rows", id="data.toggle_deleted"),
        Binding("e", "export", "Export", id="data.export"),
    ]

    @dataclass
    class ExportProgress(Message):
        rows: int

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.companyid: int | None = None
        self.include_deleted = False
        self.starts: list[tuple[int, int] | None] = [None]  # first key of each page shown so far
        self.page: export_service.Page | None = None
        self.company_names: dict[int, str] = {}
        self.exporting = False
        self.last_export: dict | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield ScreenBar()
        with Horizontal(id="data-bar"):
            yield Label("Company")
            yield Select([], prompt="loading…", id="data-company", compact=True)
        yield Static("", id="data-status", classes="section-title")
        yield DataTable(id="data-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="data-export-status", classes="hint")
        yield Footer()

    # --- data -----------------------------------------------------------------------------------
    def fetch(self) -> dict:
        choices = companies.company_choices()
        ids = [cid for cid, _name in choices]
        cid = self.companyid if self.companyid in ids else (ids[0] if ids else None)
        starts = list(self.starts) if cid == self.companyid else [None]
        include_deleted = self.include_deleted
        page = None
        if cid is not None:
            page = export_service.browse_page(
                cid,
                after=starts[-1],
                limit=self.PAGE_SIZE,
                include_deleted=include_deleted,
                config=self.ctx.config,
            )
        return {
            "choices": choices,
            "companyid": cid,
            "starts": starts,
            "page": page,
            "include_deleted": include_deleted,
        }

    def show(self, data: dict) -> None:
        choices = data["choices"]
        names = dict(choices)
        select = self.query_one("#data-company", Select)
        if names != self.company_names:
            self.company_names = names
            select.set_options([(fmt.plain(f"{cid}  {name}"), cid) for cid, name in choices])
            select.prompt = "choose a company"
        self.companyid = data["companyid"]
        self.starts = data["starts"]
        if self.companyid is not None and select.value != self.companyid:
            select.value = self.companyid
        self.page = page = data["page"]
        table = self.query_one("#data-table", DataTable)
        status = self.query_one("#data-status", Static)
        if page is None:
            table.clear()
            status.update("No companies in the IOMAD company table.")
            return
        ensure_columns(table, [(c, c) for c in page.columns])
        sync_rows(
            table,
            [
                (f"{u}-{c}", tuple(_cell(col, v) for col, v in zip(page.columns, row, strict=True)))
                for (u, c), row in zip(page.keys, page.rows, strict=True)
            ],
        )
        first = (len(self.starts) - 1) * self.PAGE_SIZE
        pages = max(1, -(-page.total // self.PAGE_SIZE))
        shown = (
            f"rows {first + 1:,}–{first + len(page.rows):,} of {page.total:,}"
            if page.rows
            else f"no rows (of {page.total:,})"
        )
        deleted = "deleted rows shown" if data["include_deleted"] else "deleted rows hidden"
        status.update(f"Company {self.companyid} · {shown} · page {len(self.starts)}/{pages} · {deleted}")
        self.refresh_bindings()

    # --- navigation -------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next_page":
            return None if self.page is None or not self.page.has_more else True
        if action == "prev_page":
            return None if len(self.starts) <= 1 else True
        if action == "export":
            return None if self.exporting or self.companyid is None else True
        return True

    @on(Select.Changed, "#data-company")
    def _company_changed(self, event: Select.Changed) -> None:
        if not isinstance(event.value, int) or event.value == self.companyid:
            return
        self.companyid = int(event.value)
        self.starts = [None]
        self.query_one("#data-table", DataTable).focus()
        self.request_refresh()

    def action_choose_company(self) -> None:
        select = self.query_one("#data-company", Select)
        select.focus()
        select.action_show_overlay()

    def action_next_page(self) -> None:
        if self.page is not None and self.page.has_more and self.page.last_key is not None:
            self.starts.append(self.page.last_key)
            self.request_refresh()

    def action_prev_page(self) -> None:
        if len(self.starts) > 1:
            self.starts.pop()
            self.request_refresh()

    def action_toggle_deleted(self) -> None:
        self.include_deleted = not self.include_deleted
        self.starts = [None]
        self.notify(
            "deleted rows shown (deleted = 1)" if self.include_deleted else "deleted rows hidden", timeout=3
        )
        self.request_refresh()

    # --- export -----------------------------------------------------------------------------------
    def action_export(self) -> None:
        if self.companyid is None or self.exporting:
            return
        ctx = self.ctx
        cid = self.companyid

        def default_path(fmt: str) -> str:
            return os.path.join(
                ".", export_service.default_filename(cid, fmt, ctx.now(), ctx.config.timezone)
            )

        def chosen(options: dict | None) -> None:
            if options:
                self.start_export(cid, options["fmt"], options["path"], options["include_deleted"])

        self.app.push_screen(
            ExportDialog(cid, self.company_names.get(cid, ""), default_path, self.include_deleted), chosen
        )

    def start_export(self, companyid: int, fmt: str, path: str, include_deleted: bool) -> None:
        self.exporting = True
        self.refresh_bindings()
        self.query_one("#data-export-status", Static).update(
            f"Exporting company {companyid} as {fmt} to {path}…"
        )
        self.start_action(
            "export",
            lambda: self._export(companyid, fmt, path, include_deleted),
            failed="Export failed",
            expected=(export_service.ExportError, OSError),
        )

    def _export(self, companyid: int, fmt: str, path: str, include_deleted: bool) -> Outcome:
        ctx = self.ctx
        target = os.path.abspath(os.path.expanduser(path))
        count = export_service.export_company(
            companyid,
            fmt,
            target,
            now=ctx.now(),
            include_deleted=include_deleted,
            config=ctx.config,
            progress=lambda rows: self.post_message(self.ExportProgress(rows)),
        )
        return Outcome(
            f"Exported {count:,} rows ({fmt}) to {target}", data={"rows": count, "path": target, "fmt": fmt}
        )

    def on_data_screen_export_progress(self, message: ExportProgress) -> None:
        if self.exporting:
            self.query_one("#data-export-status", Static).update(f"Exporting… {message.rows:,} rows written")

    def action_done(self, message: ActionDone) -> None:
        self.exporting = False
        text = message.text if message.ok else f"{message.text} (no file written)"
        if message.ok:
            self.last_export = message.data
        self.query_one("#data-export-status", Static).update(fmt.plain(text))
        self.notify(
            text,
            title="Export",
            severity="information" if message.ok else "error",
            timeout=6 if message.ok else 10,
        )
        self.refresh_bindings()
