"""The worker's jobs: each takes the :class:`JobContext` and returns a one-line summary, or raises.

A job does one unit of work through the core services; the scheduler (:mod:`.scheduler`) decides
when it runs, isolates its failures and records its outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import peewee

from ..alerts import delivery, rules
from ..analytics import timespent
from ..config import Config
from ..ops import cleanup as housekeeping
from ..reporting.runner import full_sync_due, run_sync
from ..schedules import runner as scheduled


@dataclass
class JobContext:
    config: Config
    db: peewee.Database
    clock: Callable[[], int]
    stop: threading.Event


def sync(ctx: JobContext) -> str:
    """Incremental sync; full when :func:`full_sync_due` says so."""
    full = full_sync_due(ctx.clock(), ctx.config.full_sync_hours)
    result = run_sync(ctx.db, ctx.config, clock=ctx.clock, full=full, stop=ctx.stop)
    summary = (f"{result.mode} sync {result.status}: {result.created} created, {result.updated} updated, "
               f"{result.deleted} tombstoned in {result.seconds:.2f}s"
               + (f"; {result.found_by()}" if result.found_by() else ""))  # fmt: skip
    if result.status == "failed":
        raise RuntimeError(f"{summary}: {result.error}")
    return summary


def alerts(ctx: JobContext) -> str:
    """Check the alert rules, then deliver what is pending."""
    if not ctx.config.enable_alerting:
        return "alerting is disabled (enable_alerting)"
    now = ctx.clock()
    raised = rules.check(ctx.db, ctx.config, now)
    delivered = delivery.deliver_pending(ctx.config, now)
    return (f"{raised['created']} raised, {raised['resolved']} resolved; "
            f"{delivered['delivered']} delivered, {delivered['failed']} delivery failures")  # fmt: skip


def analytics(ctx: JobContext) -> str:
    """Time spent from the log events added since the last run (SPEC §8.2)."""
    result = timespent.refresh(ctx.db, ctx.config, ctx.clock())
    return f"{result.events} new log events, {result.pairs} learner-course pairs, {result.rows} daily rows"


def reports(ctx: JobContext) -> str:
    """Scheduled reports that are due (SPEC §8.6): generated, e-mailed, recorded."""
    counts = scheduled.run_due(ctx.config, ctx.clock())
    return f"{counts['sent']} sent, {counts['retrying']} to retry, {counts['failed']} failed"


def cleanup(ctx: JobContext) -> str:
    counts = housekeeping.cleanup(
        ctx.db,
        now=ctx.clock(),
        retention_days=ctx.config.log_retention_days,
        report_retention_days=ctx.config.report_retention_days,
    )
    return ", ".join(f"{n} {what}" for what, n in counts.items()) + " deleted"


#: name -> (job, seconds between runs from the configuration)
JOBS: dict[str, tuple[Callable[[JobContext], str], Callable[[Config], float]]] = {
    "sync": (sync, lambda c: c.auto_sync_hours * 3600),
    "alerts": (alerts, lambda c: c.alert_check_minutes * 60),
    "analytics": (analytics, lambda c: c.analytics_minutes * 60),
    "reports": (reports, lambda c: 60.0),
    "cleanup": (cleanup, lambda c: c.cleanup_hours * 3600),
}
