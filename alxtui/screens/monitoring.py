"""Monitoring: Auto-Sync, Performance and Security tabs."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer, Header, Static

from .base import LiveScreen


class MonitoringScreen(LiveScreen):
    TITLE = "Monitoring"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Monitoring: not built yet", id="placeholder")
        yield Footer()
