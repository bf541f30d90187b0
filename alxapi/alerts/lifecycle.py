"""Alerts: raise them from monitoring rules, keep their lifecycle, list and resolve them.

An alert is about a subject (a company, a client address, the sync…); ``(alert_type, subject)`` is
the cooldown key. While an alert is open, the same condition seen again only bumps its
``occurrences``; after it is resolved, the same alert is raised again only once the cooldown has
passed. Delivery (e-mail, webhook) lives in :mod:`alxapi.alerts.delivery`; rules in :mod:`alxapi.alerts.rules`.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass

import peewee

from models.plugin import Alert

from .. import audit
from .kinds import SEVERITIES, SEVERITY_RANK, severity_at_least


class AlertError(ValueError):
    """A request about alerts that cannot be done (unknown id, bad filter)."""


@dataclass(frozen=True)
class Raised:
    """What :func:`raise_alert` did: 'created', 'repeated' (open alert seen again) or 'cooldown'."""

    outcome: str
    alert_id: int | None


def raise_alert(
    alert_type: str,
    severity: str,
    subject: str,
    message: str,
    data: dict | None,
    *,
    now: int,
    cooldown_seconds: int,
    threshold: str = "low",
) -> Raised:
    """Record an alert unless it is already open or in its cooldown (call inside a transaction)."""
    if severity not in SEVERITY_RANK:
        raise AlertError(f"unknown severity {severity!r}; one of {', '.join(SEVERITIES)}")
    open_alert = (
        Alert.select()
        .where((Alert.alert_type == alert_type) & (Alert.subject == subject) & (Alert.resolved == 0))
        .order_by(Alert.id.desc())
        .first()
    )
    if open_alert is not None:
        Alert.update(occurrences=Alert.occurrences + 1, timelastseen=now).where(
            Alert.id == open_alert.id
        ).execute()
        return Raised("repeated", open_alert.id)
    recent = (
        Alert.select(Alert.id)
        .where(
            (Alert.alert_type == alert_type)
            & (Alert.subject == subject)
            & (Alert.timecreated > now - cooldown_seconds)
        )
        .order_by(Alert.id.desc())
        .first()
    )
    if recent is not None:
        return Raised("cooldown", recent.id)
    delivery = "pending" if severity_at_least(severity, threshold) else "skipped"
    alert = Alert.create(
        alert_type=alert_type[:50],
        severity=severity,
        subject=subject[:255],
        message=message,
        alert_data=None if data is None else json.dumps(data, sort_keys=True, default=str),
        hostname=socket.gethostname()[:255],
        timecreated=now,
        timelastseen=now,
        delivery_status=delivery,
        next_delivery_at=now,
    )
    return Raised("created", alert.id)


def auto_resolve(alert_type: str, active_subjects: set[str], now: int) -> int:
    """Resolve open alerts of ``alert_type`` whose condition is no longer seen; return how many."""
    query = Alert.update(resolved=1, timeresolved=now, resolved_by="auto").where(
        (Alert.alert_type == alert_type) & (Alert.resolved == 0)
    )
    if active_subjects:
        query = query.where(Alert.subject.not_in(sorted(active_subjects)))
    return query.execute()


def as_dict(row: dict) -> dict:
    """An alert row as plain data: JSON details decoded, channels as a list."""
    data = row.pop("alert_data")
    row["data"] = json.loads(data) if data else {}
    row["resolved"] = bool(row["resolved"])
    row["delivered_channels"] = [c for c in row["delivered_channels"].split(",") if c]
    return row


def list_alerts(
    *, status: str | None = None, severity: str | None = None, alert_type: str | None = None, limit: int = 200
) -> list[dict]:
    """Newest first. ``status``: 'open', 'resolved' or None (all); ``severity``: at least this one."""
    query = Alert.select().order_by(Alert.timecreated.desc(), Alert.id.desc()).limit(max(1, limit))
    if status == "open":
        query = query.where(Alert.resolved == 0)
    elif status == "resolved":
        query = query.where(Alert.resolved == 1)
    elif status is not None:
        raise AlertError(f"unknown status {status!r}; use open or resolved")
    if severity is not None:
        if severity not in SEVERITY_RANK:
            raise AlertError(f"unknown severity {severity!r}; one of {', '.join(SEVERITIES)}")
        query = query.where(Alert.severity.in_([s for s in SEVERITIES if severity_at_least(s, severity)]))
    if alert_type:
        query = query.where(Alert.alert_type == alert_type)
    return [as_dict(row) for row in query.dicts()]


def open_counts() -> dict[str, int]:
    """Open alerts per severity (every severity present, zero when none)."""
    counts = dict.fromkeys(SEVERITIES, 0)
    for severity, n in (
        Alert.select(Alert.severity, peewee.fn.COUNT(Alert.id))
        .where(Alert.resolved == 0)
        .group_by(Alert.severity)
        .tuples()
    ):
        counts[severity] = counts.get(severity, 0) + n
    return counts


def resolve_alert(alert_id: int, actor: str, now: int) -> bool:
    """Resolve an open alert by hand (audited). False if it was already resolved."""
    alert = Alert.get_or_none(Alert.id == alert_id)
    if alert is None:
        raise AlertError(f"no alert with id {alert_id}")
    if alert.resolved:
        return False
    Alert.update(resolved=1, timeresolved=now, resolved_by=actor[:100]).where(Alert.id == alert_id).execute()
    audit.record(
        actor,
        "alert.resolve",
        f"alert:{alert_id}",
        {"alert_type": alert.alert_type, "subject": alert.subject},
        now,
    )
    return True
