"""Run a sync from the configuration: one place that turns settings into SyncOptions, and one
rule for when a sync must be full (:func:`full_sync_due`).

The CLI (`alx sync`), the worker, the console's "sync now" and the demo all start syncs here, so
they honour the same settings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import peewee

from models.plugin import SyncRun

from ..config import Config
from .sync import SyncEngine, SyncOptions, SyncResult


def sync_options(config: Config, *, full: bool = False, companyid: int | None = None) -> SyncOptions:
    return SyncOptions(
        full=full,
        companyid=companyid,
        batch_size=config.batch_size,
        max_sync_time=config.max_sync_time,
        report_roles=list(config.report_roles),
        overlap_seconds=config.sync_overlap_seconds,
        log_feed=config.sync_log_feed,
        reconcile_hours=config.reconcile_hours,
        lock_stale_seconds=config.lock_stale_seconds,
    )


def run_sync(
    db: peewee.Database,
    config: Config,
    *,
    clock: Callable[[], int],
    full: bool = False,
    companyid: int | None = None,
    stop: threading.Event | None = None,
    progress: Callable | None = None,
) -> SyncResult:
    """Run one sync; raises :class:`~alxapi.reporting.lock.LockHeld` when another sync is running."""
    options = sync_options(config, full=full, companyid=companyid)
    return SyncEngine(db, options, clock=clock, stop=stop, progress=progress).run()


# A full run that stopped at its time budget ("partial") leaves the rest of its work queued, and the
# next run of any kind finishes it: it counts as a full sync, or a site too large for one budget
# would start a new full sync every run and never finish one.
FULL_SYNC_DONE = ("success", "partial")


def last_full_sync() -> int | None:
    """When the latest full sync of every company (not ``--company``) started, or None."""
    return (SyncRun.select(SyncRun.timestarted)
            .where((SyncRun.mode == "full") & SyncRun.status.in_(FULL_SYNC_DONE) & (SyncRun.companyid == 0))
            .order_by(SyncRun.timestarted.desc()).scalar())  # fmt: skip


def full_sync_due(at: int, full_sync_hours: float) -> bool:
    """Whether a sync starting at ``at`` must be full: no full sync of every company started within
    ``full_sync_hours`` before it. The worker decides by this and the console predicts by it."""
    last = last_full_sync()
    return last is None or last + round(full_sync_hours * 3600) <= at
