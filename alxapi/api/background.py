"""The API's background writer: what the request path only notes in memory (request-log rows,
rate-limit counts) reaches the database here, at least every ``interval`` seconds and at shutdown.

A served request then costs no database write. Until :meth:`BackgroundWriter.start` is called (the
app under Falcon's TestClient, in tests) :meth:`after_request` flushes at once, on the request's
own connection, so what a request did is in the database when it returns.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import peewee

from models.db import DB_ERRORS

from ..errors import first_line

log = logging.getLogger("alx.api")


class BackgroundWriter:
    def __init__(self, db: peewee.Database, parts: list[Callable[[], int]], interval: float = 1.0):
        self.db = db
        self.parts = parts  # each writes what it holds and returns how much
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing: set[str] = set()  # parts whose last write failed: warned once per outage

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alx-background-writer", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and write what is left (at shutdown)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(30)
            self._thread = None
        self.flush()

    def after_request(self, db_reachable: bool) -> None:
        if not self.running and db_reachable:
            self._write()

    def flush(self) -> None:
        """Write everything on a connection of this thread (taken from the pool and given back)."""
        try:
            with self.db.connection_context():
                self._write()
        except DB_ERRORS as exc:
            if "connection" not in self._failing:
                self._failing.add("connection")
                log.warning("background writer: no database connection: %s", first_line(exc))
            return
        self._failing.discard("connection")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:  # a bug, or a pool refusing a connection: logged, and the loop goes on
                log.exception("background writer: flush failed; kept for the next try")

    def _write(self) -> None:
        for part in self.parts:
            name = _name(part)
            try:
                part()
            except DB_ERRORS as exc:  # kept for the next flush
                if name not in self._failing:
                    self._failing.add(name)
                    log.warning("%s not written, kept for the next try: %s", name, first_line(exc))
            else:
                if name in self._failing:
                    self._failing.discard(name)
                    log.warning("%s written again", name)


def _name(part: Callable) -> str:
    owner = getattr(part, "__self__", None)
    return type(owner).__name__ if owner is not None else getattr(part, "__name__", "part")
