"""Daily housekeeping: expired cache rows, request logs, sync runs and resolved alerts past retention.

Deletes go in id-bounded chunks, each its own short transaction, so a year of logs does not turn
into one huge transaction that blocks the API's log inserts (MariaDB) or bloats the WAL (SQLite).
The audit trail is never deleted.
"""

from __future__ import annotations

import peewee

from models.analytics import ReportRun
from models.plugin import Alert, ApiLog, Cache, RequestCounter, SyncRun

CHUNK = 5000
KEEP_RECENT_RUNS = 100  # sync history shown by `alx runs` survives even a short retention


def _delete_in_chunks(db: peewee.Database, model, condition) -> int:
    """Delete rows matching ``condition`` CHUNK ids at a time (portable: no DELETE … LIMIT)."""
    deleted = 0
    while True:
        ids = [
            row_id
            for (row_id,) in model.select(model.id).where(condition).order_by(model.id).limit(CHUNK).tuples()
        ]
        if not ids:
            return deleted
        with db.atomic():
            deleted += model.delete().where(model.id.in_(ids)).execute()
        if len(ids) < CHUNK:
            return deleted


def cleanup(
    db: peewee.Database, *, now: int, retention_days: int, report_retention_days: int = 90
) -> dict[str, int]:
    cutoff = now - retention_days * 86400
    counts = {
        "cache": _delete_in_chunks(db, Cache, Cache.expires_at < now),
        "logs": _delete_in_chunks(db, ApiLog, ApiLog.timecreated < cutoff),
    }
    newest_kept = [
        r for (r,) in SyncRun.select(SyncRun.id).order_by(SyncRun.id.desc()).limit(KEEP_RECENT_RUNS).tuples()
    ]
    old_runs = (SyncRun.timestarted < cutoff) & (SyncRun.status != "running")
    if newest_kept:
        old_runs &= SyncRun.id < min(newest_kept)
    counts["sync_runs"] = _delete_in_chunks(db, SyncRun, old_runs)
    counts["alerts"] = _delete_in_chunks(db, Alert, (Alert.resolved == 1) & (Alert.timecreated < cutoff))
    counts["report_runs"] = _delete_in_chunks(
        db,
        ReportRun,
        (ReportRun.timestarted < now - report_retention_days * 86400) & (ReportRun.status != "running"),
    )
    # Counters of past days serve no limit any more (two days back covers every time zone).
    counts["counters"] = RequestCounter.delete().where(RequestCounter.day_start < now - 2 * 86400).execute()
    return counts
