"""Alert delivery: e-mail over SMTP and a JSON webhook, each alert to each channel once.

Delivery is claimed per alert with one conditional UPDATE, so two workers never send the same
alert; a claim that is never completed (the process died mid-send) expires and is retried. A
channel that fails is retried later with a growing back-off, and only the channels that failed are
tried again: nothing is lost, nothing is sent twice. Secrets (SMTP password, webhook URL path) are
never logged.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from models.db import is_loopback_host
from models.plugin import Alert

from .. import audit
from ..config import Config
from ..redact import redact_url_path
from . import lifecycle as alerts
from .kinds import KINDS

log = logging.getLogger("alx.notify")

CLAIM_SECONDS = 300  # a delivery claim older than this is considered abandoned
SEND_TIMEOUT = 10.0
MAX_BACKOFF = 3600
# Statuses a delivery can be (re)tried from; 'sending' only once its claim has expired.
_CLAIMABLE = ("pending", "failed", "sending")
CREDENTIAL_NAME = "smtp_password"  # systemd LoadCredential=smtp_password:/etc/alx/smtp-password


@dataclass
class ChannelResult:
    channel: str
    ok: bool
    detail: str


class DeliveryError(RuntimeError):
    pass


def channels(config: Config) -> list[str]:
    """The configured delivery channels, in the order they are tried."""
    found = []
    if config.smtp_host and config.alert_emails:
        found.append("email")
    if config.alert_webhook_url:
        found.append("webhook")
    return found


def smtp_password(config: Config) -> str | None:
    """The SMTP password from ``smtp_password_file``, else from the systemd credential, else None."""
    path = config.smtp_password_file
    if not path and os.environ.get("CREDENTIALS_DIRECTORY"):
        candidate = Path(os.environ["CREDENTIALS_DIRECTORY"]) / CREDENTIAL_NAME
        path = str(candidate) if candidate.exists() else ""
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise DeliveryError(f"cannot read the SMTP password file {path}: {exc.strerror or exc}") from None


def _subject(alert: dict) -> str:
    about = f" ({alert['subject']})" if alert["subject"] else ""
    return f"[ALX Report] {alert['severity'].upper()} alert: {alert['alert_type']}{about}"


def _body(alert: dict, host: str) -> str:
    lines = [
        alert["message"],
        "",
        f"type:      {alert['alert_type']}",
        f"severity:  {alert['severity']}",
        f"subject:   {alert['subject'] or '-'}",
        f"raised at: {alert['timecreated']} (epoch seconds) on {alert['hostname'] or host}",
        f"alert id:  {alert['id']}",
    ]
    if alert["data"]:
        lines += ["", "details:", json.dumps(alert["data"], indent=2, sort_keys=True)]
    lines += ["", "See it in the console: alx tui (Alerts screen), or: alx alerts list"]
    return "\n".join(lines) + "\n"


SMTPS_PORT = 465  # implicit TLS (RFC 8314)


def send_email(config: Config, alert: dict) -> str:
    message = EmailMessage()
    message["Subject"] = _subject(alert)
    message.set_content(_body(alert, os.uname().nodename))
    return send_message(config, message, list(config.alert_emails))


def send_message(config: Config, message: EmailMessage, recipients: list[str]) -> str:
    """Send ``message`` to ``recipients`` over the configured SMTP server (alerts and scheduled
    reports): From and To filled in, the password never sent in clear except to this host."""
    message["From"] = config.smtp_from or f"alx-report@{os.uname().nodename}"
    message["To"] = ", ".join(recipients)
    if not config.smtp_host:
        raise DeliveryError("no SMTP server: set smtp_host")
    password = smtp_password(config)
    implicit_tls = config.smtp_port == SMTPS_PORT
    if (
        config.smtp_user
        and not (implicit_tls or config.smtp_starttls)
        and not is_loopback_host(config.smtp_host)
    ):
        raise DeliveryError(
            f"refusing to send the SMTP password to {config.smtp_host} unencrypted: set smtp_starttls = true, "
            f"or smtp_port = {SMTPS_PORT} (SMTPS)"
        )
    try:
        smtp_class: type[smtplib.SMTP] = smtplib.SMTP
        if implicit_tls:
            smtp_class = functools.partial(smtplib.SMTP_SSL, context=ssl.create_default_context())  # type: ignore[assignment]
        with smtp_class(config.smtp_host, config.smtp_port, timeout=SEND_TIMEOUT) as smtp:
            if config.smtp_starttls and not implicit_tls:
                smtp.starttls(context=ssl.create_default_context())
            if config.smtp_user:
                if password is None:
                    raise DeliveryError(
                        "smtp_user is set but no password: set smtp_password_file "
                        f"or a systemd credential named {CREDENTIAL_NAME}"
                    )
                smtp.login(config.smtp_user, password)
            refused = smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP {config.smtp_host}:{config.smtp_port}: {exc}") from None
    if refused:
        raise DeliveryError(f"recipients refused: {', '.join(sorted(refused))}")
    return f"sent to {len(recipients)} recipient(s) via {config.smtp_host}:{config.smtp_port}"


def webhook_payload(alert: dict) -> dict:
    """Slack and Teams both show ``text``; the structured alert rides along for other receivers."""
    text = f"*{_subject(alert)}*\n{alert['message']}"
    return {
        "text": text,
        "alert": {
            k: alert[k]
            for k in ("id", "alert_type", "severity", "subject", "message", "timecreated", "hostname", "data")
        },
    }


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as what it is (HTTP 3xx, a delivery error): following it would post the
    alert, and the secret path's successor, wherever the answer points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_NO_REDIRECTS = urllib.request.build_opener(_RefuseRedirects)


def send_webhook(config: Config, alert: dict) -> str:
    body = json.dumps(webhook_payload(alert), default=str).encode()
    request = urllib.request.Request(
        config.alert_webhook_url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "alx-report-alerts"},
    )
    shown = redact_url_path(config.alert_webhook_url)
    try:
        with _NO_REDIRECTS.open(request, timeout=SEND_TIMEOUT) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"webhook {shown} answered HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:
        raise DeliveryError(f"webhook {shown}: {getattr(exc, 'reason', exc)}") from None
    return f"HTTP {status} from {shown}"


SENDERS: dict[str, Callable[[Config, dict], str]] = {"email": send_email, "webhook": send_webhook}


def _send(config: Config, alert: dict, wanted: list[str]) -> list[ChannelResult]:
    results = []
    for channel in wanted:
        try:
            results.append(ChannelResult(channel, True, SENDERS[channel](config, alert)))
        except DeliveryError as exc:
            results.append(ChannelResult(channel, False, str(exc)))
        except Exception as exc:  # a bug or an odd library error must not lose the alert
            log.exception("delivery of alert %s via %s failed", alert["id"], channel)
            results.append(ChannelResult(channel, False, f"{type(exc).__name__}: {exc}"))
    return results


def backoff_seconds(attempts: int) -> int:
    return min(MAX_BACKOFF, 60 * 2 ** max(0, attempts - 1))


def _claim(alert_id: int, now: int) -> bool:
    claimed = (
        Alert.update(delivery_status="sending", next_delivery_at=now + CLAIM_SECONDS)
        .where(
            (Alert.id == alert_id) & Alert.delivery_status.in_(_CLAIMABLE) & (Alert.next_delivery_at <= now)
        )
        .execute()
    )
    return claimed == 1


def _record(alert: dict, results: list[ChannelResult], done_before: list[str], now: int) -> str:
    done = done_before + [r.channel for r in results if r.ok]
    failures = [r for r in results if not r.ok]
    attempts = alert["delivery_attempts"] + 1
    status = "failed" if failures else "delivered"
    Alert.update(
        delivery_status=status,
        delivered_channels=",".join(done),
        delivery_attempts=attempts,
        next_delivery_at=now + backoff_seconds(attempts) if failures else 0,
        delivery_error="; ".join(f"{r.channel}: {r.detail}" for r in failures) or None,
    ).where(Alert.id == alert["id"]).execute()
    return status


def deliver_pending(config: Config, now: int) -> dict[str, int]:
    """Deliver every alert due for delivery; return counts of delivered, failed and console-only."""
    counts = {"delivered": 0, "failed": 0, "console_only": 0}
    configured = channels(config)
    due = (
        Alert.select(Alert.id)
        .where(Alert.delivery_status.in_(_CLAIMABLE) & (Alert.next_delivery_at <= now))
        .order_by(Alert.id)
        .tuples()
    )
    for (alert_id,) in list(due):
        if not configured:
            # Nothing to send through: the alert stays visible in the console and `alx alerts list`.
            Alert.update(delivery_status="console").where(Alert.id == alert_id).execute()
            counts["console_only"] += 1
            continue
        if not _claim(alert_id, now):
            continue  # another worker has it
        alert = _load(alert_id)
        done = alert["delivered_channels"]
        wanted = [c for c in configured if c not in done]
        results = _send(config, alert, wanted)
        for r in results:
            (log.info if r.ok else log.warning)("alert %s via %s: %s", alert_id, r.channel, r.detail)
        counts[_record(alert, results, done, now)] += 1
    return counts


def _load(alert_id: int) -> dict:
    row = Alert.select().where(Alert.id == alert_id).dicts().get()
    return alerts.as_dict(row)


def send_test_alert(config: Config, *, actor: str, now: int) -> list[ChannelResult]:
    """Raise a 'test' alert and deliver it through every configured channel at once (audited)."""
    alert = Alert.create(
        alert_type="test",
        severity=KINDS["test"].severity,
        subject=f"test by {actor}"[:255],
        message=f"Test alert raised by {actor}: if you read this, alert delivery works.",
        alert_data=json.dumps({"actor": actor}),
        hostname=os.uname().nodename[:255],
        timecreated=now,
        timelastseen=now,
        delivery_status="sending",
        next_delivery_at=now + CLAIM_SECONDS,
    )
    configured = channels(config)
    loaded = _load(alert.id)
    results = _send(config, loaded, configured)
    if configured:
        _record(loaded, results, [], now)
    else:
        Alert.update(delivery_status="console").where(Alert.id == alert.id).execute()
    # A test alert needs no action: resolved at once so it never counts as pending.
    Alert.update(resolved=1, timeresolved=now, resolved_by=actor[:100]).where(Alert.id == alert.id).execute()
    audit.record(
        actor,
        "alert.test",
        f"alert:{alert.id}",
        {"channels": {r.channel: ("ok" if r.ok else "failed") for r in results}},
        now,
    )
    return results
