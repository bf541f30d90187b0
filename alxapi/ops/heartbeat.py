"""Liveness of the long-running processes, kept in the database so every host can see it.

The worker beats every ``heartbeat_seconds`` (30 s) and records each job's last outcome; the API
health endpoint, ``alx check`` and the console read them to say whether a worker is alive, what it
is doing and how its jobs went.
"""

from __future__ import annotations

import json
import os
import socket

from models.db import dialect
from models.plugin import Heartbeat, State

WORKER = "worker"


def beat(component: str, now: int, info: dict | None = None) -> None:
    """Record that ``component`` on this host is alive (one row per component and host)."""
    host = socket.gethostname()[:255]
    fields = {
        "pid": os.getpid(),
        "timebeat": int(now),
        "info": None if info is None else json.dumps(info, sort_keys=True, default=str),
    }
    updated = (
        Heartbeat.update(**fields)
        .where((Heartbeat.component == component) & (Heartbeat.hostname == host))
        .execute()
    )
    if not updated:
        # MySQL's ON DUPLICATE KEY UPDATE takes no conflict target (peewee refuses one there).
        target = None if dialect() == "mysql" else [Heartbeat.component, Heartbeat.hostname]
        Heartbeat.insert(component=component, hostname=host, **fields).on_conflict(
            conflict_target=target, update=fields
        ).execute()


def latest(component: str = WORKER, now: int | None = None, stale_after: int = 90) -> list[dict]:
    """Every host's last beat for ``component``, newest first: host, pid, timebeat, age, alive, info."""
    rows = []
    for row in Heartbeat.select().where(Heartbeat.component == component).order_by(Heartbeat.timebeat.desc()):
        age = None if now is None else max(0, int(now) - row.timebeat)
        rows.append(
            {
                "component": row.component,
                "hostname": row.hostname,
                "pid": row.pid,
                "timebeat": row.timebeat,
                "age_seconds": age,
                "alive": age is not None and age <= stale_after,
                "info": json.loads(row.info) if row.info else {},
            }
        )
    return rows


# --- the worker's job outcomes ---------------------------------------------------------------------

JOB_STATE_PREFIX = "worker.job."


def record_job(name: str, started: int, outcome: dict, now: int) -> None:
    """Keep a worker job's last outcome (state ``worker.job.<name>``) for the console and `alx check`."""
    State.put(JOB_STATE_PREFIX + name, value_int=int(started), value_text=json.dumps(outcome), now=now)


def job_states() -> list[dict]:
    """The last outcome of every worker job (the console's Diagnostics shows them)."""
    rows = State.select().where(State.name.startswith(JOB_STATE_PREFIX)).order_by(State.name)
    return [json.loads(row.value_text) for row in rows if row.value_text]
