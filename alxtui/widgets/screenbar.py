"""The screen bar: every screen and its key on one line under the header, the current one marked.

The footer has room for the current screen's own actions only (at 80 columns it was cut after the
second screen key, so screens 6 and 7 could not be found). The app lists its screens once
(``AlxConsole.screen_bar()``); the bar shows the keys in force, remapped ones included.
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
        entries = getattr(self.app, "screen_bar", lambda: [])()
        here = type(self.screen)
        bar = Text(no_wrap=True, overflow="ellipsis")
        for key, label, screen_class in entries:
            if screen_class is here:
                bar.append(f" {key} {label} ", style="bold reverse")
            else:
                bar.append(f" {key} ", style="bold")
                bar.append(f"{label} ")
        self.update(bar)
