"""Helpers for the console's pilot and snapshot tests of the Companies, Tokens, Data and Diagnostics
screens: waiting for thread workers and the messages they post, reading cells, a snapshot site."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.text import Text
from textual.widgets import Input

from .tui_helpers import build_console_site


async def settle(pilot, rounds: int = 30) -> None:
    """Wait until no worker runs and the messages they posted have been handled (bounded)."""
    app = pilot.app
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            await pilot.pause()
            if not any(w.is_running for w in app.workers):
                return


async def drain(app, pilot) -> None:
    """Let every running worker finish and its messages be handled (twice: a result may start more)."""
    for _ in range(2):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def open_screen(pilot, key: str) -> None:
    await pilot.press(key)
    await settle(pilot)


def plain(value) -> str:
    return value.plain if isinstance(value, Text) else str(value)


def row_cells(table, key: str) -> list[str]:
    return [plain(v) for v in table.get_row(key)]


def table_keys(table) -> list[str]:
    return [str(r.key.value) for r in table.ordered_rows]


def static_text(widget, width: int = 200) -> str:
    """What a Static shows, as plain text (Rich renderables rendered at ``width`` columns)."""
    content = widget.content
    if isinstance(content, str):
        return Text.from_markup(content).plain
    if isinstance(content, Text):
        return content.plain
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(content)
    return console.export_text()


async def type_into(pilot, widget: Input, text: str) -> None:
    """Replace an Input's text by typing ``text`` on the keyboard."""
    widget.focus()
    await pilot.pause()
    widget.value = ""
    if text:
        await pilot.press(*text)
    await pilot.pause()


@pytest.fixture
def no_cursor_blink(monkeypatch):
    """A blinking cursor makes screenshots differ run to run (harlequin does the same)."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


def snapshot_site(tmp_path, monkeypatch):
    """The deterministic demo site on SQLite under a relative path (the header shows the URL)."""
    monkeypatch.chdir(tmp_path)
    return build_console_site("sqlite:///moodle.sqlite3")
