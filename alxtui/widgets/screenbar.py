"""The screen bar: every screen and its key on one line under the header, the current one marked.

The footer has room for the current screen's own actions only (at 80 columns it was cut after the
second screen key, so screens 6 and 7 could not be found). The app lists its screens once
(``AlxConsole.screen_bar()``); the bar shows the keys in force, remapped ones included. When the
full labels do not fit the width (nine screens at 80 columns), the other screens show short labels;
the current one keeps its full label.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class ScreenBar(Static):
    DEFAULT_CSS = """
    ScreenBar {
        height: 1;
        width: 100%;
        background: $panel;
        color: $text-muted;
    }
    """

    def on_mount(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        entries = getattr(self.app, "screen_bar", lambda: [])()
        bar = self._bar(entries, short=False)
        if bar.cell_len > (self.size.width or self.app.size.width):
            bar = self._bar(entries, short=True)
        self.update(bar)

    def _bar(self, entries, *, short: bool) -> Text:
        here = type(self.screen)
        bar = Text(no_wrap=True, overflow="ellipsis")
        for key, label, short_label, screen_class in entries:
            if screen_class is here:
                bar.append(f" {key} {label} ", style="bold reverse")
            else:
                bar.append(f" {key} ", style="bold")
                bar.append(f"{short_label if short else label} ")
        return bar
