"""The console application: nine screens as modes, global keys, logging to a file, clean exits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import peewee
from textual.app import App
from textual.binding import Binding

from alxapi import clock
from alxapi.config import Config
from alxapi.redact import redact_url
from alxapi.safetext import terminal_text

from .context import ConsoleContext
from .screens.alerts import AlertsScreen
from .screens.base import LiveScreen
from .screens.companies import CompaniesScreen
from .screens.control_center import ControlCenterScreen
from .screens.data_export import DataScreen
from .screens.diagnostics import DiagnosticsScreen
from .screens.insights import InsightsScreen
from .screens.monitoring import MonitoringScreen
from .screens.reports import ReportsScreen
from .screens.tokens import TokensScreen
from .terminal import HangupSafeDriver
from .widgets.commands import ScreenBindingsProvider

log = logging.getLogger("alxtui")

# After a hang-up the console has this long to close normally before the process ends itself: an
# SSH drop must never leave a console behind holding database connections (a shutdown that writes
# to a terminal that is gone can block).
HANGUP_GRACE_SECONDS = 5.0
_leaving = threading.Event()


def leave_soon(grace: float = HANGUP_GRACE_SECONDS) -> None:
    """Make sure this process ends within ``grace`` seconds (once armed, later calls do nothing)."""
    if _leaving.is_set():
        return
    _leaving.set()

    def watchdog() -> None:
        time.sleep(grace)
        log.warning("the console did not close within %.0f s of the hang-up: ending the process", grace)
        logging.shutdown()
        os._exit(0)  # children of `alx demo` die with us (PR_SET_PDEATHSIG)

    threading.Thread(target=watchdog, name="hang-up watchdog", daemon=True).start()


#: (mode name, screen class, number key, label) in the order of the number keys.
SCREENS = (
    ("control", ControlCenterScreen, "1", "Control"),
    ("companies", CompaniesScreen, "2", "Companies"),
    ("tokens", TokensScreen, "3", "Tokens"),
    ("monitoring", MonitoringScreen, "4", "Monitor"),
    ("alerts", AlertsScreen, "5", "Alerts"),
    ("data", DataScreen, "6", "Data"),
    ("diagnostics", DiagnosticsScreen, "7", "Diagnostics"),
    ("reports", ReportsScreen, "8", "Reports"),
    ("insights", InsightsScreen, "9", "Insights"),
)
#: Labels for a narrow screen bar (80 columns cannot hold all nine in full).
SHORT_LABELS = {
    "Control": "Ctrl",
    "Companies": "Cos",
    "Tokens": "Tok",
    "Monitor": "Mon",
    "Alerts": "Alrt",
    "Diagnostics": "Diag",
    "Reports": "Rep",
    "Insights": "Ins",
}


class AlxConsole(App):
    """``alx tui``. Binding ids (``screen.*``, ``refresh.*``, ``app.*``) can be remapped in the
    config file's ``[keymap]`` table, e.g. ``"refresh.pause" = "f5"``."""

    CSS_PATH = "alx.tcss"
    TITLE = "ALX Report"
    MODES = {name: screen for name, screen, _key, _label in SCREENS}
    DEFAULT_MODE = "control"
    # Every key of the current screen (and the app's) can be found and run by name with ctrl+p.
    COMMANDS = App.COMMANDS | {ScreenBindingsProvider}
    BINDINGS = [
        *(
            # Not in the footer: the screen bar shows every screen key (the footer keeps the screen's own).
            Binding(key, f"switch_mode('{name}')", label, id=f"screen.{name}", show=False)
            for name, _screen, key, label in SCREENS
        ),
        Binding("r", "refresh_now", "Refresh", id="refresh.now"),
        Binding("p", "toggle_pause", "Pause", id="refresh.pause"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(self, ctx: ConsoleContext, *, sub_title: str | None = None) -> None:
        """``sub_title`` replaces the header's database address (tests: a fixed text)."""
        super().__init__(driver_class=HangupSafeDriver if sys.platform == "linux" else None)
        self.ctx = ctx
        self.paused = False
        self._fixed_sub_title = sub_title

    def on_mount(self) -> None:
        if self.ctx.config.keymap:
            self.set_keymap(self.ctx.config.keymap)
        self.sub_title = self._fixed_sub_title or redact_url(self.ctx.config.database_url)
        # Over SSH the terminal can vanish without a signal reaching us: check, and leave cleanly.
        self.set_interval(5, self._check_terminal, name="terminal watch")
        if not self.is_headless:
            # Through the event loop's wakeup fd: the loop wakes at once, even while it waits for input.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.hang_up)

    def hang_up(self) -> None:
        """The terminal is gone: exit as ``q`` does, and for certain within the grace period."""
        log.warning("the terminal went away; exiting")
        leave_soon()
        self.exit(return_code=0)

    def screen_bar(self) -> list[tuple[str, str, str, type]]:
        """(key in force, label, short label, screen class) of every screen, for the screen bar."""
        keymap = self.ctx.config.keymap
        return [
            (keymap.get(f"screen.{name}", key).split(",")[0], label, SHORT_LABELS.get(label, label), screen)
            for name, screen, key, label in SCREENS
        ]

    def _check_terminal(self) -> None:
        if self.is_headless:
            return
        try:
            alive = os.isatty(sys.__stdin__.fileno())
        except (OSError, ValueError, AttributeError):
            alive = False
        if not alive:
            self.hang_up()

    def notify(self, message: str, *, title: str = "", markup: bool = True, **kwargs) -> None:  # type: ignore[override]
        """Every notification as plain text: they carry names and error texts from the database,
        which must never be read as markup or reach the terminal as control sequences."""
        super().notify(terminal_text(str(message)), title=terminal_text(title), markup=False, **kwargs)

    def action_refresh_now(self) -> None:
        if isinstance(self.screen, LiveScreen):
            self.screen.request_refresh()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self.notify("live refresh paused (p resumes)" if self.paused else "live refresh resumed", timeout=3)
        if isinstance(self.screen, LiveScreen):
            self.screen.pause_changed(self.paused)


def setup_file_logging(config: Config) -> Path:
    """Send all logging to a file: nothing may ever print over the console's screen."""
    path = Path(config.log_file) if config.log_file else default_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(config.log_level.upper())
    return path


def default_log_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "alx" / "alx-tui.log"


def run_console(config: Config, db: peewee.Database, *, api_url: str | None = None) -> int:
    """Run the console in this terminal until the operator quits or the terminal goes away."""
    setup_file_logging(config)
    app = AlxConsole(ConsoleContext(config=config, db=db, now=clock.now, api_url=api_url))

    def hang_up(_signum, _frame) -> None:
        # Before the event loop runs (it takes over SIGHUP once mounted): leave the way `q` does.
        leave_soon()
        app.call_later(app.exit, None, 0)

    previous = signal.signal(signal.SIGHUP, hang_up)
    try:
        app.run()
    finally:
        signal.signal(signal.SIGHUP, previous)
    return app.return_code or 0
