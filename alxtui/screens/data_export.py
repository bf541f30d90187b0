"""Data & export: browse a company's reporting rows; export CSV/XLSX."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer, Header, Static

from .base import LiveScreen


class DataScreen(LiveScreen):
    TITLE = "Data & export"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Data & export: not built yet", id="placeholder")
        yield Footer()
