"""Companies: companies with counts; field and course toggles; sync and API settings."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer, Header, Static

from .base import LiveScreen


class CompaniesScreen(LiveScreen):
    TITLE = "Companies"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Companies: not built yet", id="placeholder")
        yield Footer()
