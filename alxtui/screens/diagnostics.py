"""Diagnostics: database latency, tables (repair), worker heartbeat, API, effective config."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer, Header, Static

from .base import LiveScreen


class DiagnosticsScreen(LiveScreen):
    TITLE = "Diagnostics"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Diagnostics: not built yet", id="placeholder")
        yield Footer()
