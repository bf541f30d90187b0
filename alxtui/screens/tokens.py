"""Tokens: API tokens: list, create (shown once, OSC 52 copy), revoke."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer, Header, Static

from .base import LiveScreen


class TokensScreen(LiveScreen):
    TITLE = "Tokens"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Tokens: not built yet", id="placeholder")
        yield Footer()
