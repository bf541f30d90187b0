"""The export options of the Data & export and Reports screens: format, file (and, for a company's
rows, whether deleted rows are included)."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Footer, Input, Select, Static

from alxapi.exports.company import FORMATS

from ..widgets import fmt
from .confirm import form_row


class ExportDialog(ModalScreen[dict | None]):
    """Format, file and whether deleted rows are included; dismisses with those or None."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "Export", id="data.export_submit"),
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
    ]

    def __init__(
        self,
        companyid: int,
        company: str,
        default_path: Any,
        include_deleted: bool = False,
        *,
        title: str | None = None,
        formats: tuple[str, ...] = FORMATS,
        note: str = "Rows and fields as the company's API clients see them (enabled courses and "
        "fields). Written to a temporary file, renamed when complete.",
        ask_deleted: bool = True,
    ) -> None:
        """``default_path(fmt) -> str`` gives the suggested file for a format."""
        super().__init__()
        self.companyid = companyid
        self.company = company
        self.default_path = default_path
        self.include_deleted = include_deleted
        self.title = title or f"Export company {companyid} {company}"
        self.formats = formats
        self.note = note
        self.ask_deleted = ask_deleted
        self._suggested = default_path(formats[0])

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="export-dialog"):
            yield Static(fmt.plain(self.title), classes="dialog-title")
            yield form_row(
                "Format",
                Select(
                    [(f, f) for f in self.formats],
                    value=self.formats[0],
                    allow_blank=False,
                    id="export-format",
                    compact=True,
                ),
            )
            yield form_row("File", Input(self._suggested, id="export-path", compact=True))
            if self.ask_deleted:
                yield Checkbox(
                    "include deleted rows (adds a deleted column)",
                    self.include_deleted,
                    id="export-deleted",
                    compact=True,
                )
            yield Static(self.note, classes="dialog-text")
            yield Static("", id="export-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export (ctrl+s)", id="export", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#export-path", Input).focus()

    @on(Select.Changed, "#export-format")
    def _format_changed(self, event: Select.Changed) -> None:
        path = self.query_one("#export-path", Input)
        if path.value == self._suggested:  # still the suggestion: follow the format
            self._suggested = self.default_path(str(event.value))
            path.value = self._suggested

    def action_submit(self) -> None:
        path = self.query_one("#export-path", Input).value.strip()
        if not path:
            self.query_one("#export-error", Static).update("Give the file to write.")
            return
        self.dismiss(
            {
                "fmt": str(self.query_one("#export-format", Select).value),
                "path": path,
                "include_deleted": self.ask_deleted and self.query_one("#export-deleted", Checkbox).value,
            }
        )

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _input_submitted(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#export")
    def _export_pressed(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()
