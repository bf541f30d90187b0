"""One sync at a time across every process and host: a lease held in the state table.

Acquiring is a single conditional UPDATE, atomic on every engine. The holder renews the lease
after each batch; a lease not renewed for ``stale_seconds`` (a crashed or killed holder) expires.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass

import peewee

from models.plugin import State

LOCK_NAME = "sync_lock"


class LockHeld(RuntimeError):
    def __init__(self, holder: str, started: int):
        super().__init__(f"another sync holds the lock: {holder} since {started}")
        self.holder = holder
        self.started = started


@dataclass
class SyncLock:
    stale_seconds: int
    holder: str = ""

    def __post_init__(self):
        self.holder = self.holder or f"{socket.gethostname()}:{os.getpid()}"

    def acquire(self, now: int) -> None:
        self._ensure_row()
        payload = json.dumps({"holder": self.holder, "started": now})
        got = (State.update(value_int=now + self.stale_seconds, value_text=payload, timemodified=now)
               .where((State.name == LOCK_NAME) & (State.value_int < now))
               .execute())
        if not got:
            row = State.get(State.name == LOCK_NAME)
            info = json.loads(row.value_text or "{}")
            raise LockHeld(info.get("holder", "?"), int(info.get("started", 0)))

    def renew(self, now: int) -> None:
        (State.update(value_int=now + self.stale_seconds, timemodified=now)
         .where((State.name == LOCK_NAME) & State.value_text.contains(f'"holder": "{self.holder}"'))
         .execute())

    def release(self) -> None:
        (State.update(value_int=0, value_text=None)
         .where((State.name == LOCK_NAME) & State.value_text.contains(f'"holder": "{self.holder}"'))
         .execute())

    @staticmethod
    def _ensure_row() -> None:
        if State.get_or_none(State.name == LOCK_NAME) is None:
            try:
                with State._meta.database.atomic():
                    State.insert(name=LOCK_NAME, value_int=0).execute()
            except peewee.IntegrityError:
                pass  # another process created it first
