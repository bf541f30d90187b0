"""Alerts: list, filter (status, lowest severity), resolve (confirmed, audited), send a test alert.

The list comes from :func:`alxapi.alerts.list_alerts` in a worker thread; resolving goes through
:func:`alxapi.alerts.resolve_alert` (audited with the operator's name) and the test alert through
:func:`alxapi.alerts.delivery.send_test_alert`, which reports each delivery channel's result.
"""

from __future__ import annotations

import logging

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from alxapi.alerts import lifecycle as alerts
from alxapi.alerts.delivery import send_test_alert

from ..actions import Outcome
from ..dialogs import ConfirmDialog
from ..widgets import fmt
from ..widgets.screenbar import ScreenBar
from ..widgets.tables import current_key, sync_rows
from .base import LiveScreen

log = logging.getLogger("alxtui")

STATUS_FILTERS = ("open", "all", "resolved")
SEVERITY_FILTERS = (None, "medium", "high", "critical")  # "at least"; None = every severity
COLUMNS = (
    ("id", "ID"),
    ("raised", "Raised"),
    ("severity", "Severity"),
    ("type", "Type"),
    ("subject", "Subject"),
    ("seen", "Seen"),
    ("state", "State"),
)


class AlertsScreen(LiveScreen):
    TITLE = "Alerts"
    BINDINGS = [
        Binding("x", "resolve", "Resolve", id="alerts.resolve"),
        Binding("t", "test_alert", "Test alert", id="alerts.test"),
        Binding("o", "cycle_status", "Status filter", id="alerts.filter_status"),
        Binding("v", "cycle_severity", "Severity filter", id="alerts.filter_severity"),
    ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.status_filter = "open"
        self.severity_filter: str | None = None
        self.alerts: dict[int, dict] = {}
        self.counts: dict[str, int] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield ScreenBar()
        yield Static("", id="alerts-filter")
        table = DataTable(id="alerts-table", cursor_type="row", zebra_stripes=True)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield Static("", id="alerts-detail")
        yield Static("", id="alerts-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#alerts-table", DataTable).focus()
        super().on_mount()

    # --- data -------------------------------------------------------------------------------------
    def fetch(self) -> dict:
        status = None if self.status_filter == "all" else self.status_filter
        return {
            "status": self.status_filter,
            "severity": self.severity_filter,
            "alerts": alerts.list_alerts(status=status, severity=self.severity_filter, limit=500),
            "counts": alerts.open_counts(),
            "now": self.ctx.now(),
        }

    def show(self, data: dict) -> None:
        if (data["status"], data["severity"]) != (self.status_filter, self.severity_filter):
            self.request_refresh()  # the filter changed while this poll ran
            return
        self.alerts = {a["id"]: a for a in data["alerts"]}
        self.counts = data["counts"]
        tz, now = self.ctx.config.timezone, data["now"]
        sync_rows(
            self.query_one("#alerts-table", DataTable),
            [
                (
                    str(a["id"]),
                    (
                        str(a["id"]),
                        fmt.clock(a["timecreated"], tz, now),
                        a["severity"],
                        a["alert_type"],
                        a["subject"],
                        str(a["occurrences"]),
                        "resolved" if a["resolved"] else "open",
                    ),
                )
                for a in data["alerts"]
            ],
        )
        self._show_filter()
        self._show_detail()

    def _show_filter(self) -> None:
        open_total = sum(self.counts.values())
        by_severity = ", ".join(
            f"{n} {s}" for s in ("critical", "high", "medium", "low") if (n := self.counts.get(s))
        )
        severity = f"{self.severity_filter}+" if self.severity_filter else "any severity"
        self.query_one("#alerts-filter", Static).update(
            f"{self.status_filter.capitalize()}, {severity}: {fmt.count(len(self.alerts))} shown   ·   "
            f"open {open_total}{f': {by_severity}' if by_severity else ''}"
        )

    def _show_detail(self) -> None:
        alert = self.selected_alert()
        detail = self.query_one("#alerts-detail", Static)
        if alert is None:
            detail.update("No alert matches the filter." if not self.alerts else "")
            return
        tz = self.ctx.config.timezone
        text = f"#{alert['id']} {fmt.stamp(alert['timecreated'], tz)}: {alert['message']}"
        if alert["resolved"]:
            text += f"  [resolved {fmt.stamp(alert['timeresolved'], tz)} by {alert['resolved_by']}]"
        elif alert["delivery_status"]:
            text += f"  [delivery: {alert['delivery_status']}]"
        detail.update(fmt.plain(text))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def selected_alert(self) -> dict | None:
        key = current_key(self.query_one("#alerts-table", DataTable))
        return None if key is None else self.alerts.get(int(key))

    def show_status(self, text: str) -> None:
        self.query_one("#alerts-status", Static).update(fmt.plain(text))

    # --- filters ----------------------------------------------------------------------------------
    def action_cycle_status(self) -> None:
        self.status_filter = STATUS_FILTERS[
            (STATUS_FILTERS.index(self.status_filter) + 1) % len(STATUS_FILTERS)
        ]
        self._show_filter()
        self.request_refresh()

    def action_cycle_severity(self) -> None:
        i = SEVERITY_FILTERS.index(self.severity_filter)
        self.severity_filter = SEVERITY_FILTERS[(i + 1) % len(SEVERITY_FILTERS)]
        self._show_filter()
        self.request_refresh()

    # --- resolve ----------------------------------------------------------------------------------
    def action_resolve(self) -> None:
        alert = self.selected_alert()
        if alert is None:
            self._refuse("No alert selected: nothing to resolve.")
            return
        if alert["resolved"]:
            self._refuse(
                f"Alert #{alert['id']} is already resolved (by {alert['resolved_by'] or 'auto'}); "
                "nothing changed."
            )
            return
        alert_id = alert["id"]

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.start_action(
                    "resolve",
                    lambda: self._resolve(alert_id),
                    failed="Not resolved",
                    expected=(alerts.AlertError,),
                )

        self.app.push_screen(
            ConfirmDialog(
                f"Resolve alert #{alert_id}?",
                f"{alert['severity']} {alert['alert_type']}: {alert['subject']}\n{alert['message']}\n\n"
                f"It will be recorded as resolved by {self.ctx.actor}.",
                "Resolve",
            ),
            confirmed,
        )

    def _refuse(self, text: str) -> None:
        self.show_status(text)
        self.notify(text, severity="warning", timeout=5)

    def _resolve(self, alert_id: int) -> Outcome:
        ctx = self.ctx
        with ctx.db.atomic():
            changed = alerts.resolve_alert(alert_id, ctx.actor, ctx.now())
        return Outcome(
            f"Alert #{alert_id} resolved by {ctx.actor}."
            if changed
            else f"Alert #{alert_id} was already resolved; nothing changed.",
            ok=changed,
        )

    # --- test alert -------------------------------------------------------------------------------
    def action_test_alert(self) -> None:
        if not self.start_action("test", self._test_alert, failed="Test alert failed"):
            self.notify("A test alert is already being sent.", severity="warning")
            return
        self.show_status("Sending a test alert through every configured channel…")

    def _test_alert(self) -> Outcome:
        ctx = self.ctx
        results = send_test_alert(ctx.config, actor=ctx.actor, now=ctx.now())
        if not results:
            return Outcome(
                "Test alert raised; no e-mail or webhook is configured, so the console is its only channel."
            )
        parts = [
            f"{r.channel} {'ok' if r.ok else 'FAILED'}" + (f" ({r.detail})" if r.detail else "")
            for r in results
        ]
        return Outcome("Test alert: " + " · ".join(parts), ok=all(r.ok for r in results))
