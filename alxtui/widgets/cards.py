"""Summary cards: a title on the border, one bold value, a short detail under it.

Used in rows (``Grid.cards``) by the Control Center and the Monitoring tabs. A card's state
(``ok``, ``warning``, ``error`` or none) only changes its border colour, so it reads the same with
NO_COLOR (the value and detail say it in words).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Static

STATES = ("ok", "warning", "error")


class Card(Widget):
    """``Card("Cache hit rate", id="cc-cache")``, then ``card.set("82 %", "1,204 hits", state="ok")``."""

    def __init__(self, title: str, *, id: str | None = None) -> None:  # noqa: A002 (Textual's name)
        super().__init__(id=id, classes="card")
        self.border_title = title
        self.value = "–"
        self.detail = ""

    def compose(self) -> ComposeResult:
        yield Static("–", classes="card-value")

    def set(self, value: str, detail: str = "", *, state: str | None = None) -> None:
        if value != self.value:
            self.value = value
            self.query_one(".card-value", Static).update(value)
        if detail != self.detail:
            self.detail = detail
            self.border_subtitle = detail
        for name in STATES:
            self.set_class(state == name, f"-{name}")
