"""Creating an API token, and showing it the one time it can be shown."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Select, Static

from alxapi.access import companies
from alxapi.access import tokens as token_service

from ..actions import ActionDone, Outcome, run_action
from ..widgets import fmt
from .confirm import form_row


class TokenCreateDialog(ModalScreen[dict | None]):
    """Company, name, expiry in days, IP restriction → ``tokens.create_token`` (audited).

    Dismisses with ``{"token", "id", "companyid", "company", "name", "expires", "iprestriction"}``;
    a refused request (unknown company, bad CIDR, bad expiry) keeps the dialog open with the reason.
    """

    BINDINGS = [
        Binding("ctrl+s", "submit", "Create", id="tokens.create_submit"),
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
    ]

    def __init__(self, companyid: int | None = None) -> None:
        super().__init__()
        self.initial_company = companyid
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="token-create"):
            yield Static("Create an API token", classes="dialog-title")
            yield form_row(
                "Company", Select([], prompt="loading companies…", id="token-company", compact=True)
            )
            yield form_row("Name", Input(placeholder="e.g. Power BI finance", id="token-name", compact=True))
            yield form_row(
                "Expires in days", Input(placeholder="empty: never", id="token-expires", compact=True)
            )
            yield form_row(
                "Allowed IPs",
                Input(placeholder="empty: any (e.g. 10.0.0.0/8,192.0.2.7)", id="token-ip", compact=True),
            )
            yield Static("", id="token-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Create (ctrl+s)", id="create", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        run_action(
            self,
            "load",
            lambda: Outcome("loaded", data=companies.company_choices()),
            failed="cannot load companies",
        )

    def _loaded(self, choices: list[tuple[int, str]]) -> None:
        select = self.query_one("#token-company", Select)
        select.set_options([(fmt.plain(f"{cid}  {name}"), cid) for cid, name in choices])
        select.prompt = "choose a company"
        if self.initial_company is not None and any(cid == self.initial_company for cid, _ in choices):
            select.value = self.initial_company
        select.focus()

    def show_error(self, text: str) -> None:
        self.query_one("#token-error", Static).update(fmt.plain(text))

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
                self.show_error(
                    f"Expires in days: {expires_text!r} is not a whole number of days from 1 to "
                    f"{token_service.MAX_EXPIRES_DAYS} (leave it empty for a token that never expires)."
                )
                return None
            expires = int(expires_text)
        return {
            "companyid": int(company),
            "name": self.query_one("#token-name", Input).value.strip(),
            "expires_days": expires,
            "ip": self.query_one("#token-ip", Input).value.strip() or None,
        }

    def action_submit(self) -> None:
        if self.busy:
            return
        values = self.form()
        if values is None:
            return
        self.busy = True
        self.show_error("")
        run_action(
            self,
            "create",
            lambda: self._create(values),
            failed="Not created",
            expected=(token_service.TokenError,),
        )

    def _create(self, values: dict[str, Any]) -> Outcome:
        ctx = self.app.ctx  # type: ignore[attr-defined]
        token, row = token_service.create_token(
            values["companyid"],
            name=values["name"],
            expires_days=values["expires_days"],
            ip=values["ip"],
            actor=ctx.actor,
            now=ctx.now(),
        )
        names = dict(companies.company_choices())
        return Outcome(
            f"token {row.id} created",
            data={
                "token": token,
                "id": row.id,
                "companyid": row.companyid,
                "company": names.get(row.companyid, ""),
                "name": row.name,
                "expires": row.expires_at or None,
                "iprestriction": row.iprestriction,
            },
        )

    def on_action_done(self, message: ActionDone) -> None:
        message.stop()
        if message.action == "load":
            if message.ok:
                self._loaded(message.data)
            else:
                self.show_error(message.text)
            return
        self.busy = False
        if message.ok:
            self.dismiss(message.data)
        else:
            self.show_error(message.text.removeprefix("Not created: "))

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
            yield Static(
                f"Token {r['id']} created for company {r['companyid']} {r['company']}", classes="dialog-title"
            )
            yield Static(r["token"], id="token-value", classes="token-value")
            yield Static(
                "This token is shown ONLY NOW: only its SHA-256 hash is stored, so it cannot be "
                "shown again. Copy it now (c copies it through your terminal, OSC 52) and store it "
                "safely; revoke it if it leaks.",
                classes="dialog-warning",
            )
            yield Static(
                f"name: {r['name'] or '-'}   expires: {self.expires_text}   "
                f"allowed IPs: {r['iprestriction'] or 'any'}",
                classes="dialog-text",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Copy (c)", id="copy", variant="primary", compact=True)
                yield Button("Close (esc)", id="close", compact=True)
        yield Footer()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.result["token"])
        self.copied = True
        self.notify(
            "Token copied to the clipboard (OSC 52). If your terminal does not support it, "
            "select the token with the mouse (shift+drag).",
            title="Copied",
            timeout=6,
        )

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#copy")
    def _copy_pressed(self) -> None:
        self.action_copy()

    @on(Button.Pressed, "#close")
    def _close_pressed(self) -> None:
        self.action_close()
