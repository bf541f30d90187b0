"""The pattern every live screen follows: fetch in a thread, render on the UI thread, never overlap.

``fetch()`` runs in a thread worker inside one database unit of work and may only call core
services; its result travels back as a :class:`LiveScreen.Fetched` message and ``show()`` renders
it on the UI thread. The next poll is armed with a one-shot timer only after a result (or an error)
has been shown, so a slow database never stacks polls up; "refresh now" while a poll runs just
asks for one more when it ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer

from alxapi.errors import describe

from ..actions import ActionDone, Outcome, run_action
from ..context import ConsoleContext

log = logging.getLogger("alxtui")


class LiveScreen(Screen):
    """A screen with data that is refreshed on a timer (the console's refresh interval)."""

    #: Whether the screen polls on a timer; screens that only load once set this to False.
    LIVE = True

    @dataclass
    class Fetched(Message):
        data: Any
        seconds: float

    @dataclass
    class FetchFailed(Message):
        error: str

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._polling = False
        self._again = False
        self._timer: Timer | None = None
        self.last_refresh: float | None = None
        self.last_error: str | None = None
        self.running: set[str] = set()  # operator actions in progress (one of each at a time)

    @property
    def ctx(self) -> ConsoleContext:
        return self.app.ctx  # type: ignore[attr-defined]

    # --- to override -----------------------------------------------------------------------------
    def fetch(self) -> Any:
        """Runs in a worker thread inside ``ctx.unit()``: read through core services, return data."""
        return None

    def show(self, data: Any) -> None:
        """Runs on the UI thread with what ``fetch`` returned."""

    def show_status(self, text: str) -> None:
        """Where a screen shows the outcome of an operator action (besides a notification)."""

    def start_action(
        self,
        action: str,
        work: Callable[[], str | Outcome],
        *,
        failed: str,
        expected: tuple[type[Exception], ...] = (),
        unit: bool = True,
    ) -> bool:
        """Run an operator's action (:func:`alxtui.actions.run_action`), one of each at a time;
        False when the same action is still running."""
        if action in self.running:
            return False
        self.running.add(action)
        run_action(self, action, work, failed=failed, expected=expected, unit=unit)
        return True

    def on_action_done(self, message: ActionDone) -> None:
        message.stop()
        self.running.discard(message.action)
        self.action_done(message)

    def action_done(self, message: ActionDone) -> None:
        """What an action's outcome does; by default: say it and refresh."""
        self.show_status(message.text)
        self.notify(message.text, severity="information" if message.ok else "error", timeout=6)
        self.request_refresh()

    def show_error(self, error: str) -> None:
        self.notify(error, title="Refresh failed", severity="error", timeout=8)

    # --- the poll loop ---------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.request_refresh()

    def on_screen_resume(self) -> None:
        # Coming back to a screen shows fresh data at once, not after a full interval.
        if self.last_refresh is not None:
            self.request_refresh()

    def on_screen_suspend(self) -> None:
        self._cancel_timer()

    def request_refresh(self) -> None:
        """Start a poll now, or right after the one that is running."""
        if self._polling:
            self._again = True
            return
        self._cancel_timer()
        self._polling = True
        self.run_worker(self._poll, thread=True, group="poll", name=f"poll {type(self).__name__}")

    def _poll(self) -> None:
        started = time.perf_counter()
        try:
            with self.ctx.unit():
                data = self.fetch()
        except Exception as exc:  # shown to the operator, logged in full to the log file
            log.exception("refresh of %s failed", type(self).__name__)
            self.post_message(self.FetchFailed(describe(exc)))
            return
        self.post_message(self.Fetched(data, time.perf_counter() - started))

    def on_live_screen_fetched(self, message: Fetched) -> None:
        message.stop()
        self.last_refresh = time.time()
        self.last_error = None
        try:
            self.show(message.data)
        finally:
            self._poll_done()

    def on_live_screen_fetch_failed(self, message: FetchFailed) -> None:
        message.stop()
        self.last_error = message.error
        try:
            self.show_error(message.error)
        finally:
            self._poll_done()

    def _poll_done(self) -> None:
        self._polling = False
        if self._again:
            self._again = False
            self.request_refresh()
            return
        self._arm()

    def _arm(self) -> None:
        self._cancel_timer()
        if not self.LIVE or getattr(self.app, "paused", False) or not self.is_current:
            return
        self._timer = self.set_timer(self.ctx.config.tui_refresh_seconds, self.request_refresh)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def pause_changed(self, paused: bool) -> None:
        """Called by the app when the operator pauses or resumes live refresh."""
        if paused:
            self._cancel_timer()
        elif not self._polling:
            self._arm()
