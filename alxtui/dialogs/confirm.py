"""A yes/no confirmation, and the labelled form line every dialog uses."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static


def form_row(label: str, widget, *, row_id: str | None = None) -> Horizontal:
    """A labelled form line: the label in a fixed-width column, the widget filling the rest."""
    return Horizontal(Label(label), widget, classes="form-row", id=row_id)


class ConfirmDialog(ModalScreen[bool]):
    """Yes/no. Dismisses with True only on an explicit confirmation; the focused default is Cancel."""

    BINDINGS = [
        Binding("y", "confirm", "Confirm", id="dialog.confirm"),
        Binding("n,escape", "cancel", "Cancel", id="dialog.cancel"),
    ]

    def __init__(self, title: str, message: str, confirm_label: str = "Confirm") -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title")
            yield Static(self.message, classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.confirm_label} (y)", id="confirm", variant="error", compact=True)
                yield Button("Cancel (n)", id="cancel", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#confirm")
    def _confirm_pressed(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(False)
