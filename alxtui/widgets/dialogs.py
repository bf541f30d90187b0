"""Modal dialogs: confirmation, token creation, the token shown once (OSC 52 copy), export options.

Every dialog is keyboard-first: its keys are bindings with ids (remappable through ``[keymap]``),
shown in its footer; Escape always cancels. Database work runs in thread workers inside
``ctx.unit()`` and only through core services; results come back as messages.
"""

from __future__ import annotations

import logging
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Footer, Input, Label, Select, Static

from alxapi.access import companies
from alxapi.access import tokens as token_service
from alxapi.exports.company import FORMATS

log = logging.getLogger("alxtui")


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


class TokenCreateDialog(ModalScreen[dict | None]):
    """Company, name, expiry in days, IP restriction → ``tokens.create_token`` (audited).

    Dismisses with ``{"token", "id", "companyid", "company", "name", "expires", "iprestriction"}``;
    a refused request (unknown company, bad CIDR, bad expiry) keeps the dialog open with the reason.
    """

    BINDINGS = [
        Binding("ctrl+s", "submit", "Create", id="tokens.create_submit"),
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
    ]

    class Loaded(Message):
        def __init__(self, choices: list[tuple[int, str]]) -> None:
            super().__init__()
            self.choices = choices

    class Created(Message):
        def __init__(self, result: dict) -> None:
            super().__init__()
            self.result = result

    class Refused(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(self, companyid: int | None = None) -> None:
        super().__init__()
        self.initial_company = companyid
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="token-create"):
            yield Static("Create an API token", classes="dialog-title")
            yield form_row("Company", Select([], prompt="loading companies…", id="token-company", compact=True))
            yield form_row("Name", Input(placeholder="e.g. Power BI finance", id="token-name", compact=True))
            yield form_row("Expires in days", Input(placeholder="empty: never", id="token-expires", compact=True))
            yield form_row("Allowed IPs", Input(placeholder="empty: any (e.g. 10.0.0.0/8,192.0.2.7)",
                                                id="token-ip", compact=True))
            yield Static("", id="token-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Create (ctrl+s)", id="create", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self._load, thread=True, group="dialog", name="load companies")

    def _load(self) -> None:
        try:
            with self.app.ctx.unit():  # type: ignore[attr-defined]
                choices = companies.company_choices()
        except Exception as exc:
            log.exception("loading companies failed")
            self.post_message(self.Refused(f"cannot load companies: {exc}"))
            return
        self.post_message(self.Loaded(choices))

    def on_token_create_dialog_loaded(self, message: Loaded) -> None:
        select = self.query_one("#token-company", Select)
        select.set_options([(f"{cid}  {name}", cid) for cid, name in message.choices])
        select.prompt = "choose a company"
        if self.initial_company is not None and any(cid == self.initial_company for cid, _ in message.choices):
            select.value = self.initial_company
        select.focus()

    def show_error(self, text: str) -> None:
        self.query_one("#token-error", Static).update(text)

    def form(self) -> dict[str, Any] | None:
        """The form's values, or None after showing what is wrong (nothing sent to the database)."""
        company = self.query_one("#token-company", Select).value
        if not isinstance(company, int):
            self.show_error("Choose the company the token may read.")
            return None
        expires_text = self.query_one("#token-expires", Input).value.strip()
        expires: int | None = None
        if expires_text:
            if not expires_text.isdigit() or int(expires_text) < 1:
                self.show_error(f"Expires in days: {expires_text!r} is not a whole number of days from 1 to "
                                f"{token_service.MAX_EXPIRES_DAYS} (leave it empty for a token that never expires).")
                return None
            expires = int(expires_text)
        return {"companyid": int(company), "name": self.query_one("#token-name", Input).value.strip(),
                "expires_days": expires, "ip": self.query_one("#token-ip", Input).value.strip() or None}

    def action_submit(self) -> None:
        if self.busy:
            return
        values = self.form()
        if values is None:
            return
        self.busy = True
        self.show_error("")
        self.run_worker(lambda: self._create(values), thread=True, group="dialog", name="create token")

    def _create(self, values: dict[str, Any]) -> None:
        ctx = self.app.ctx  # type: ignore[attr-defined]
        try:
            with ctx.unit():
                token, row = token_service.create_token(values["companyid"], name=values["name"],
                                                        expires_days=values["expires_days"], ip=values["ip"],
                                                        actor=ctx.actor, now=ctx.now())
                company = companies.company_choices()
        except token_service.TokenError as exc:
            self.post_message(self.Refused(str(exc)))
            return
        except Exception as exc:
            log.exception("token creation failed")
            self.post_message(self.Refused(f"{type(exc).__name__}: {exc}".splitlines()[0]))
            return
        names = dict(company)
        self.post_message(self.Created({"token": token, "id": row.id, "companyid": row.companyid,
                                        "company": names.get(row.companyid, ""), "name": row.name,
                                        "expires": row.expires_at or None, "iprestriction": row.iprestriction}))

    def on_token_create_dialog_created(self, message: Created) -> None:
        self.busy = False
        self.dismiss(message.result)

    def on_token_create_dialog_refused(self, message: Refused) -> None:
        self.busy = False
        self.show_error(message.error)

    @on(Input.Submitted)
    def _input_submitted(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#create")
    def _create_pressed(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)


class TokenShownDialog(ModalScreen[None]):
    """The new token, shown this once, with a copy action (OSC 52: works over SSH in most terminals)."""

    BINDINGS = [
        Binding("c", "copy", "Copy token", id="tokens.copy"),
        Binding("escape,enter", "close", "Close", id="dialog.close"),
    ]

    def __init__(self, result: dict, expires_text: str = "never") -> None:
        super().__init__()
        self.result = result
        self.expires_text = expires_text
        self.copied = False

    def compose(self) -> ComposeResult:
        r = self.result
        with Vertical(classes="dialog", id="token-shown"):
            yield Static(f"Token {r['id']} created for company {r['companyid']} {r['company']}",
                         classes="dialog-title")
            yield Static(r["token"], id="token-value", classes="token-value")
            yield Static("This token is shown ONLY NOW: only its SHA-256 hash is stored, so it cannot be "
                         "shown again. Copy it now (c copies it through your terminal, OSC 52) and store it "
                         "safely; revoke it if it leaks.", classes="dialog-warning")
            yield Static(f"name: {r['name'] or '-'}   expires: {self.expires_text}   "
                         f"allowed IPs: {r['iprestriction'] or 'any'}", classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Copy (c)", id="copy", variant="primary", compact=True)
                yield Button("Close (esc)", id="close", compact=True)
        yield Footer()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.result["token"])
        self.copied = True
        self.notify("Token copied to the clipboard (OSC 52). If your terminal does not support it, "
                    "select the token with the mouse (shift+drag).", title="Copied", timeout=6)

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#copy")
    def _copy_pressed(self) -> None:
        self.action_copy()

    @on(Button.Pressed, "#close")
    def _close_pressed(self) -> None:
        self.action_close()


class ExportDialog(ModalScreen[dict | None]):
    """Format, file and whether deleted rows are included; dismisses with those or None."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "Export", id="data.export_submit"),
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
    ]

    def __init__(self, companyid: int, company: str, default_path: Any, include_deleted: bool = False) -> None:
        """``default_path(fmt) -> str`` gives the suggested file for a format."""
        super().__init__()
        self.companyid = companyid
        self.company = company
        self.default_path = default_path
        self.include_deleted = include_deleted
        self._suggested = default_path("csv")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="export-dialog"):
            yield Static(f"Export company {self.companyid} {self.company}", classes="dialog-title")
            yield form_row("Format", Select([(f, f) for f in FORMATS], value="csv", allow_blank=False,
                                            id="export-format", compact=True))
            yield form_row("File", Input(self._suggested, id="export-path", compact=True))
            yield Checkbox("include deleted rows (adds a deleted column)", self.include_deleted,
                           id="export-deleted", compact=True)
            yield Static("Rows and fields as the company's API clients see them (enabled courses and "
                         "fields). Written to a temporary file, renamed when complete.", classes="dialog-text")
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
        self.dismiss({"fmt": str(self.query_one("#export-format", Select).value), "path": path,
                      "include_deleted": self.query_one("#export-deleted", Checkbox).value})

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
