"""Tokens: API tokens: list, create (shown once, OSC 52 copy), revoke.

The list shows every managed token with today's use against its daily limit, counted as the API's
rate limit counts it (the request log since local midnight; the company's ``rate_limit`` or the
global one). Creating and revoking go through ``access.tokens`` like ``alx token create|revoke``,
audited with the operator's login name. The token itself exists only in the dialog that shows it.
"""

from __future__ import annotations

import logging

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from alxapi.access import tokens as token_service
from alxapi.access.usage import list_tokens_with_usage
from alxapi.timefmt import DateFormatter

from ..dialogs import ConfirmDialog, TokenCreateDialog, TokenShownDialog
from ..widgets.screenbar import ScreenBar
from ..widgets.tables import current_key, ensure_columns, sync_rows
from .base import LiveScreen

log = logging.getLogger("alxtui")

COLUMNS = (
    ("id", "ID"),
    ("name", "Name"),
    ("company", "Company"),
    ("status", "Status"),
    ("today", "Today/limit"),
    ("lastused", "Last used"),
    ("expires", "Expires"),
    ("created", "Created"),
)
STATUS_STYLE = {"active": "green", "expired": "yellow", "revoked": "red"}


def usage_text(used: int, limit: int) -> Text:
    if limit <= 0:
        return Text(f"{used}/∞", justify="right")
    style = "bold red" if used >= limit else ("yellow" if used >= 0.8 * limit else "")
    return Text(f"{used}/{limit}", style=style, justify="right")


class TokensScreen(LiveScreen):
    TITLE = "Tokens"

    BINDINGS = [
        Binding("n", "create_token", "New token", id="tokens.create"),
        Binding("x", "revoke_token", "Revoke", id="tokens.revoke"),
    ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tokens: dict[int, dict] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield ScreenBar()
        yield Static("API tokens", id="tokens-summary", classes="section-title")
        yield DataTable(id="tokens-table", cursor_type="row", zebra_stripes=True)
        yield Static(
            "Today/limit: calls since local midnight vs the daily limit (∞ unlimited)", classes="hint"
        )
        yield Footer()

    def on_mount(self) -> None:
        ensure_columns(self.query_one("#tokens-table", DataTable), COLUMNS)
        super().on_mount()

    def fetch(self) -> list[dict]:
        return list_tokens_with_usage(self.ctx.config, self.ctx.now())

    def _dates(self) -> DateFormatter:
        return DateFormatter(self.ctx.config.timezone)

    def show(self, data: list[dict]) -> None:
        date = self._dates().format
        self.tokens = {t["id"]: t for t in data}
        rows = []
        for t in data:
            rows.append(
                (
                    str(t["id"]),
                    (
                        Text(str(t["id"]), justify="right"),
                        t["name"] or "-",
                        f"{t['companyid']} {t['company']}",
                        Text(t["status"], style=STATUS_STYLE.get(t["status"], "")),
                        usage_text(t["used_today"], t["limit"]),
                        date(t["lastused"] or 0)[:16] or "never",
                        date(t["expires"] or 0)[:16] if t["expires"] else "never",
                        date(t["created"])[:16],
                    ),
                )
            )
        sync_rows(self.query_one("#tokens-table", DataTable), rows)
        active = sum(1 for t in data if t["status"] == "active")
        self.query_one("#tokens-summary", Static).update(
            f"API tokens: {len(data)}   active {active}   calls today {sum(t['used_today'] for t in data):,}"
            + ("" if data else "   — none yet: n creates one")
        )

    def selected_token(self) -> dict | None:
        key = current_key(self.query_one("#tokens-table", DataTable))
        return None if key is None else self.tokens.get(int(key))

    # --- create -----------------------------------------------------------------------------------
    def action_create_token(self, companyid: int | None = None) -> None:
        """Open the create dialog (also the Control Center's quick action)."""
        if companyid is None:
            token = self.selected_token()
            companyid = token["companyid"] if token else None
        self.app.push_screen(TokenCreateDialog(companyid), self._created)

    def _created(self, result: dict | None) -> None:
        if not result:
            return
        expires = self._dates().format(result["expires"])[:16] if result["expires"] else "never"
        self.app.push_screen(TokenShownDialog(result, expires))
        self.request_refresh()

    # --- revoke -----------------------------------------------------------------------------------
    def action_revoke_token(self) -> None:
        token = self.selected_token()
        if token is None:
            self.notify("No token selected.", severity="warning")
            return
        if token["status"] == "revoked":
            self.notify(f"Token {token['id']} is already revoked.", severity="warning")
            return
        name = token["name"] or "unnamed"

        def answer(confirmed: bool | None) -> None:
            if confirmed:
                self.start_action(
                    "revoke",
                    lambda: self._revoke(token["id"], name),
                    failed="Not revoked",
                    expected=(token_service.TokenError,),
                )

        self.app.push_screen(
            ConfirmDialog(
                "Revoke token?",
                f"Revoke token {token['id']} ({name}) of company {token['companyid']} {token['company']}? "
                "Clients using it are refused (accessexception) from now on. This cannot be undone.",
                "Revoke",
            ),
            answer,
        )

    def _revoke(self, token_id: int, name: str) -> str:
        _row, revoked = token_service.revoke_token(token_id, self.ctx.actor, self.ctx.now())
        return (
            f"Token {token_id} ({name}) revoked."
            if revoked
            else f"Token {token_id} was already revoked; nothing changed."
        )
