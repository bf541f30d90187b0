"""Control Center: system health, today's API figures, alerts pending, last/next sync, quick actions.

The figures come from :func:`alxapi.ops.monitor.overview` (one worker-thread poll). Quick actions:
sync now (:func:`alxapi.reporting.runner.run_sync` in a thread worker; another sync holding the
lock is reported with its holder), clear cache (:func:`alxapi.api.cache.clear_all`), create a token
(the Tokens screen's dialog) and diagnostics. Every change is audited with the operator's name.
"""

from __future__ import annotations

import logging

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.widgets import Footer, Header, Static

from alxapi import audit
from alxapi.api.cache import clear_all
from alxapi.ops import monitor
from alxapi.reporting.lock import LockHeld
from alxapi.reporting.runner import run_sync

from ..actions import ActionRefused, Outcome
from ..widgets import fmt
from ..widgets.cards import Card
from ..widgets.screenbar import ScreenBar
from .base import LiveScreen

log = logging.getLogger("alxtui")

# (id, title): titles of at most 12 characters fit a card at 80 columns.
CARDS = (
    ("cc-health", "Health"),
    ("cc-calls", "Calls today"),
    ("cc-companies", "Companies"),
    ("cc-alerts", "Alerts open"),
    ("cc-cache", "Cache hits"),
    ("cc-response", "Avg response"),
    ("cc-errors", "Error rate"),
    ("cc-tokens", "Tokens"),
    ("cc-last-sync", "Last sync"),
    ("cc-next-sync", "Next sync"),
    ("cc-worker", "Worker"),
    ("cc-database", "Database"),
)
STATUS_WORDS = {"success": "ok", "failed": "FAILED"}


class ControlCenterScreen(LiveScreen):
    TITLE = "Control Center"
    BINDINGS = [
        Binding("s", "sync_now", "Sync now", id="control.sync_now"),
        Binding("c", "clear_cache", "Clear cache", id="control.clear_cache"),
        Binding("n", "create_token", "New token", id="control.create_token"),
        Binding("d", "diagnostics", "Diagnostics", id="control.diagnostics"),
    ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.data: monitor.Overview | None = None
        self.problems: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield ScreenBar()
        with Vertical(id="control-body"):
            with Grid(classes="cards", id="control-cards"):
                for card_id, title in CARDS:
                    yield Card(title, id=card_id)
            yield Static("Quick actions", classes="section-title")
            yield Static(
                Text.assemble(
                    ("s", "bold"),
                    " sync now   ",
                    ("c", "bold"),
                    " clear cache   ",
                    ("n", "bold"),
                    " new API token   ",
                    ("d", "bold"),
                    " diagnostics",
                ),
                id="control-actions",
            )
            yield Static("", id="control-problems")
            yield Static("", id="control-status")
            yield Static("", id="control-asof")
        yield Footer()

    # --- data -------------------------------------------------------------------------------------
    def fetch(self) -> monitor.Overview:
        return monitor.overview(self.ctx.now(), self.ctx.config)

    def show(self, data: monitor.Overview) -> None:
        self.data = data
        tz, now = self.ctx.config.timezone, data.now
        card = self._card
        problems = []
        if not data.worker.alive:
            problems.append("no worker" if not data.worker.last_beat else "worker silent")
        if data.last_sync is not None and data.last_sync.status == "failed":
            problems.append("last sync failed")
        if data.alerts_open.get("critical"):
            problems.append("critical alert")
        card("cc-health").set(
            "OK" if not problems else "Attention",
            "all good"
            if not problems
            else problems[0]
            if len(problems) == 1
            else f"{len(problems)} problems",
            state="ok" if not problems else "warning",
        )
        self.problems = problems
        today = data.today
        card("cc-calls").set(fmt.count(today.calls), f"{fmt.count(today.records)} rows")
        card("cc-companies").set(
            f"{data.companies_with_rows} of {data.companies}", f"{data.companies_with_calls} calling"
        )
        open_alerts = data.alerts_pending
        worst = next((s for s in ("critical", "high", "medium", "low") if data.alerts_open.get(s)), None)
        card("cc-alerts").set(
            fmt.count(open_alerts),
            f"worst: {worst}" if worst else "none open",
            state=None if not open_alerts else "error" if worst in ("critical", "high") else "warning",
        )
        card("cc-cache").set(
            fmt.pct(today.cache_hit_rate),
            f"{fmt.count(today.cache_hits)} hits",
            state=None if today.cache_hit_rate is None or today.cache_hit_rate >= 70 else "warning",
        )
        card("cc-response").set(
            fmt.ms(today.avg_response_ms),
            "today",
            state="warning" if (today.avg_response_ms or 0) > 2000 else None,
        )
        card("cc-errors").set(
            fmt.pct(today.error_rate),
            f"{fmt.count(today.errors)} errors",
            state="warning" if (today.error_rate or 0) > 5 else None,
        )
        card("cc-tokens").set(fmt.count(data.active_tokens), "active")
        last = data.last_sync
        if last is None:
            card("cc-last-sync").set("never", "no sync yet", state="warning")
        else:
            card("cc-last-sync").set(
                f"{fmt.clock(last.timestarted, tz, now)} {last.mode}",
                f"{STATUS_WORDS.get(last.status, last.status)} · {fmt.count(last.changed)} changes",
                state="error" if last.status == "failed" else None,
            )
        nxt = data.next_sync
        card("cc-next-sync").set(
            "due now" if nxt.at <= now else fmt.clock(nxt.at, tz, now),
            nxt.mode if nxt.at <= now else f"{nxt.mode[:4]} · {fmt.ago(nxt.at, now)}",
        )
        worker = data.worker
        card("cc-worker").set(
            "alive" if worker.alive else "down" if worker.last_beat else "not seen",
            f"beat {fmt.ago(worker.last_beat, now)}" if worker.last_beat else "no heartbeat",
            state=None if worker.alive else "warning",
        )
        card("cc-database").set("reachable", self.ctx.config.database_url.split(":", 1)[0])
        self.query_one("#control-problems", Static).update(
            fmt.plain("Needs attention: " + "; ".join(problems) if problems else "")
        )
        self.query_one("#control-asof", Static).update(
            f"as of {fmt.stamp(now, tz)} {tz} · today since {fmt.clock(data.day_start, tz)} · "
            f"refresh every {self.ctx.config.tui_refresh_seconds:g} s (r now, p pause)"
        )

    def _card(self, card_id: str) -> Card:
        return self.query_one(f"#{card_id}", Card)

    def show_status(self, text: str) -> None:
        self.query_one("#control-status", Static).update(fmt.plain(text))

    # --- quick actions ----------------------------------------------------------------------------
    def action_sync_now(self) -> None:
        if not self.start_action("sync", self._sync, failed="Sync failed", unit=False):
            self.notify("A sync started from this console is still running.", severity="warning")
            return
        self.show_status("Sync running…")

    def _sync(self) -> Outcome:
        ctx = self.ctx
        try:
            result = run_sync(ctx.db, ctx.config, clock=ctx.now)
        except LockHeld as exc:
            when = fmt.stamp(exc.started, ctx.config.timezone)
            raise ActionRefused(
                f"Not started: another sync holds the lock ({exc.holder}, since {when})."
            ) from None
        try:
            with ctx.unit() as db, db.atomic():
                audit.record(
                    ctx.actor,
                    "sync.run",
                    f"sync_run:{result.run_id}",
                    {
                        "mode": result.mode,
                        "status": result.status,
                        "created": result.created,
                        "updated": result.updated,
                        "deleted": result.deleted,
                    },
                    ctx.now(),
                )
        except Exception:
            log.exception("could not audit the console's sync run %s", result.run_id)
        return Outcome(
            f"Sync {result.status}: {result.mode}, {result.created} created, {result.updated} updated, "
            f"{result.deleted} removed"
            + (f", {result.remaining} left for the next run" if result.remaining else ""),
            ok=result.status != "failed",
        )

    def action_clear_cache(self) -> None:
        self.start_action("cache", self._clear_cache, failed="Cache not cleared")

    def _clear_cache(self) -> str:
        cleared = clear_all(self.ctx.actor, self.ctx.now())
        return (
            f"Cache cleared: {cleared.table_entries} stored entries removed; API processes drop theirs "
            f"(epoch {cleared.epoch})."
        )

    async def action_create_token(self) -> None:
        await self.app.switch_mode("tokens")
        screen = self.app.screen
        if hasattr(screen, "action_create_token"):
            screen.action_create_token()

    async def action_diagnostics(self) -> None:
        await self.app.switch_mode("diagnostics")
