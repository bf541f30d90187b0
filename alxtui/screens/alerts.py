"""Alerts: alerts: list, filter, resolve, send a test alert."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer, Header, Static

from .base import LiveScreen


class AlertsScreen(LiveScreen):
    TITLE = "Alerts"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Alerts: not built yet", id="placeholder")
        yield Footer()
