"""Run a sync from the configuration: one place that turns settings into SyncOptions.

The CLI (`alx sync`), the worker, the console's "sync now" and the demo all start syncs here, so
they honour the same settings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import peewee

from ..config import Config
from .sync import SyncEngine, SyncOptions, SyncResult


def sync_options(config: Config, *, full: bool = False, companyid: int | None = None) -> SyncOptions:
    return SyncOptions(full=full, companyid=companyid, batch_size=config.batch_size,
                       max_sync_time=config.max_sync_time, report_roles=list(config.report_roles),
                       overlap_seconds=config.sync_overlap_seconds,
                       lock_stale_seconds=config.lock_stale_seconds)


def run_sync(db: peewee.Database, config: Config, *, clock: Callable[[], int], full: bool = False,
             companyid: int | None = None, stop: threading.Event | None = None,
             progress: Callable | None = None) -> SyncResult:
    """Run one sync; raises :class:`~alxapi.reporting.lock.LockHeld` when another sync is running."""
    options = sync_options(config, full=full, companyid=companyid)
    return SyncEngine(db, options, clock=clock, stop=stop, progress=progress).run()
