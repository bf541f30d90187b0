"""One sync at a time across every process and host: a lease held in the state table.

Acquiring is a single conditional UPDATE, atomic on every engine. The holder renews the lease
after each batch; a lease not renewed for ``stale_seconds`` (a crashed or killed holder) expires.

A lease whose holder is known to be gone is taken over at once instead of waiting for it to expire:
- a run that lost its database connection cannot release its lease (the server may be down): when
  the lease names this very process (``host:pid``) and no sync of this process holds it any more,
  the next run of the same process (the worker, the console) takes it over;
- a process that crashed or was killed (``kill -9``, an OOM kill) on this host: when the lease names
  this host and boot and its pid is not alive, any process of this host takes it over.
Leases of other hosts keep the timeout: from here, a silent host cannot be told from a slow one.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
from dataclasses import dataclass, field

import peewee

from models.plugin import State

LOCK_NAME = "sync_lock"
BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"


def boot_id() -> str:
    """This boot of this host (Linux); "" where unknown, which disables the dead-pid takeover."""
    try:
        with open(BOOT_ID_FILE, encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a process of another user has that pid
    return True


# Tokens of the leases that syncs of this process hold right now.
_held: set[str] = set()
_held_guard = threading.Lock()


class LockHeld(RuntimeError):
    def __init__(self, holder: str, started: int):
        super().__init__(f"another sync holds the lock: {holder} since {started}")
        self.holder = holder
        self.started = started


@dataclass
class SyncLock:
    stale_seconds: int
    holder: str = ""
    token: str = field(default_factory=lambda: secrets.token_hex(8))
    took_over: str | None = None  # the holder whose abandoned lease this run took over

    def __post_init__(self):
        self.holder = self.holder or f"{socket.gethostname()}:{os.getpid()}"

    def _match(self):
        return (State.name == LOCK_NAME) & State.value_text.contains(f'"holder": "{self.holder}"')

    def acquire(self, now: int) -> None:
        self._ensure_row()
        payload = json.dumps({"holder": self.holder, "started": now, "token": self.token, "boot": boot_id()})

        def take(condition) -> bool:
            taken = State.update(value_int=now + self.stale_seconds, value_text=payload, timemodified=now)
            return bool(taken.where((State.name == LOCK_NAME) & condition).execute())

        with _held_guard:
            got = take(State.value_int < now)
            if not got:
                row = State.get(State.name == LOCK_NAME)
                info = json.loads(row.value_text or "{}")
                if self._abandoned(info):
                    # Only if the lease is still the one judged abandoned (another process may race us).
                    got = take(State.value_text == row.value_text)
                    self.took_over = info.get("holder") if got else None
                if not got:
                    raise LockHeld(info.get("holder", "?"), int(info.get("started", 0)))
            _held.add(self.token)

    def _abandoned(self, info: dict) -> bool:
        """Whether the lease's holder is known to be gone (see the module's docstring)."""
        holder = str(info.get("holder", ""))
        if holder == self.holder:
            return info.get("token") not in _held  # ours, left by a run that lost its connection
        host, _, pid = holder.rpartition(":")
        me, _, _ = self.holder.rpartition(":")
        same_boot = bool(info.get("boot")) and info.get("boot") == boot_id()
        return host == me and same_boot and pid.isdigit() and not pid_alive(int(pid))

    def renew(self, now: int) -> None:
        State.update(value_int=now + self.stale_seconds, timemodified=now).where(self._match()).execute()

    def release(self) -> None:
        """Give the lease back. Whatever happens, this process no longer counts as holding it."""
        try:
            State.update(value_int=0, value_text=None).where(self._match()).execute()
        finally:
            self.forget()

    def forget(self) -> None:
        with _held_guard:
            _held.discard(self.token)

    @staticmethod
    def _ensure_row() -> None:
        if State.get_or_none(State.name == LOCK_NAME) is None:
            try:
                with State._meta.database.atomic():
                    State.insert(name=LOCK_NAME, value_int=0).execute()
            except peewee.IntegrityError:
                pass  # another process created it first
