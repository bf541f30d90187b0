"""How every command writes: data on stdout (plain or ``--json``), messages on stderr, times in
the configured zone, and a progress line for long work."""

from __future__ import annotations

import json
import sys
import time

from ..timefmt import format_local


def say(message: str) -> None:
    """A message for the operator: stderr, so stdout stays data."""
    print(message, file=sys.stderr)


def print_json(data) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def when(epoch: int | None, zone: str) -> str:
    """An epoch time for a table or message: local time in ``zone`` (setting ``timezone``), "-" for 0."""
    return format_local(epoch, zone) or "-"


class ProgressLine:
    """A single updating line on a terminal; a line every few seconds otherwise (journal, pipes)."""

    def __init__(self, stream=sys.stderr, every: float = 5.0):
        self.stream = stream
        self.tty = stream.isatty()
        self.every = every
        self.last = 0.0
        self.started = time.monotonic()

    def __call__(self, result, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < self.every:
            return
        self.last = now
        text = (
            f"sync: {done}/{total} queued items, {result.created} created, {result.updated} updated, "
            f"{result.deleted} tombstoned, {result.unchanged} unchanged, {now - self.started:.1f}s"
        )
        if self.tty:
            self.stream.write("\r" + text + "\x1b[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.last:
            self.stream.write("\n")
