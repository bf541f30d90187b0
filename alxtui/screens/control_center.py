"""Control Center: system health, today's API figures, alerts pending, last/next sync, quick actions."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer, Header, Static

from .base import LiveScreen


class ControlCenterScreen(LiveScreen):
    TITLE = "Control Center"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Control Center: not built yet", id="placeholder")
        yield Footer()
