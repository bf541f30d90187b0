"""Alert delivery to a real local SMTP server (aiosmtpd) and a real local webhook (http.server).

Each alert reaches each channel once, a failed channel is retried later (only that channel), alerts
below the threshold are kept but not sent, and `alx alerts test` reports every channel's result.
"""

from __future__ import annotations

import json
import threading

import pytest

from alxapi.alerts import delivery as notify
from alxapi.alerts import lifecycle as alerts
from alxapi.config import load_config
from models.plugin import Alert, Audit

from .support.cli_helpers import Alx
from .support.dbservers import free_port
from .support.sinks import PASSWORD, SmtpSink, Webhook

# The authenticated sink runs without TLS (loopback only); aiosmtpd warns about exactly that.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Requiring AUTH while not requiring TLS", "ignore:Session.login_data"
)

NOW = 1_700_000_000


@pytest.fixture
def smtp():
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def hook():
    with Webhook() as w:
        yield w


def config_for(smtp: SmtpSink | None = None, hook: Webhook | None = None, **extra):
    settings = {"alert_threshold": "medium", **extra}
    if smtp is not None:
        settings.update(
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            alert_emails="ops@example.com,bi@example.com",
            smtp_from="alx@example.com",
        )
    if hook is not None:
        settings["alert_webhook_url"] = hook.url
    return load_config(flags=settings, env={}, search_paths=[])


def raise_one(severity: str = "high", subject: str = "sync", now: int = NOW) -> int:
    raised = alerts.raise_alert(
        "sync_failed",
        severity,
        subject,
        "The last sync failed: boom",
        {"run_id": 7},
        now=now,
        cooldown_seconds=3600,
        threshold="medium",
    )
    assert raised.outcome == "created"
    return raised.alert_id


def test_each_alert_reaches_every_channel_once(moodle, smtp, hook):
    config = config_for(smtp, hook)
    first, second = raise_one(), raise_one(subject="company:3")
    assert notify.deliver_pending(config, NOW) == {"delivered": 2, "failed": 0, "console_only": 0}
    assert notify.deliver_pending(config, NOW + 3600) == {"delivered": 0, "failed": 0, "console_only": 0}

    assert len(smtp.messages) == 2 and len(hook.posts) == 2
    rcpts, message = smtp.messages[0]
    assert rcpts == ["ops@example.com", "bi@example.com"]
    assert message["Subject"] == "[ALX Report] HIGH alert: sync_failed (sync)"
    assert message["From"] == "alx@example.com"
    assert "The last sync failed: boom" in message.get_payload()
    assert hook.posts[0]["text"].startswith("*[ALX Report] HIGH alert: sync_failed (sync)*")
    assert hook.posts[0]["alert"]["data"] == {"run_id": 7}
    for alert_id in (first, second):
        row = Alert.get_by_id(alert_id)
        assert (row.delivery_status, row.delivered_channels, row.delivery_attempts) == (
            "delivered",
            "email,webhook",
            1,
        )


def test_a_failed_channel_is_retried_later_and_only_that_channel(moodle, smtp, hook):
    config = config_for(smtp, hook)
    hook.statuses = [500, 503]
    alert_id = raise_one()
    assert notify.deliver_pending(config, NOW)["failed"] == 1
    row = Alert.get_by_id(alert_id)
    assert (row.delivery_status, row.delivered_channels) == ("failed", "email")
    assert "webhook" in row.delivery_error and "HTTP 500" in row.delivery_error
    assert "SECRETPATH" not in row.delivery_error  # the webhook URL's secret path is never recorded
    first_retry = row.next_delivery_at
    assert first_retry == NOW + notify.backoff_seconds(1)

    # Not due yet: nothing happens.
    assert notify.deliver_pending(config, first_retry - 1) == {"delivered": 0, "failed": 0, "console_only": 0}
    # Due: only the webhook is tried again; it fails once more and backs off further.
    assert notify.deliver_pending(config, first_retry)["failed"] == 1
    row = Alert.get_by_id(alert_id)
    assert (
        row.next_delivery_at
        == first_retry + notify.backoff_seconds(2)
        > first_retry + notify.backoff_seconds(1)
    )
    assert notify.deliver_pending(config, row.next_delivery_at)["delivered"] == 1
    row = Alert.get_by_id(alert_id)
    assert (row.delivery_status, row.delivered_channels, row.delivery_attempts) == (
        "delivered",
        "email,webhook",
        3,
    )
    assert len(smtp.messages) == 1 and len(hook.posts) == 1


def test_alerts_below_the_threshold_are_kept_but_not_sent(moodle, smtp):
    config = config_for(smtp, alert_threshold="high")
    low = alerts.raise_alert(
        "cache_hit_rate",
        "medium",
        "api",
        "cache is cold",
        None,
        now=NOW,
        cooldown_seconds=3600,
        threshold=config.alert_threshold,
    )
    notify.deliver_pending(config, NOW)
    assert smtp.messages == []
    assert Alert.get_by_id(low.alert_id).delivery_status == "skipped"
    assert [a["id"] for a in alerts.list_alerts(status="open")] == [low.alert_id]


def test_without_channels_alerts_stay_visible_in_the_console(moodle):
    alert_id = raise_one()
    assert notify.deliver_pending(config_for(), NOW) == {"delivered": 0, "failed": 0, "console_only": 1}
    assert Alert.get_by_id(alert_id).delivery_status == "console"


def test_concurrent_deliverers_send_each_alert_once(moodle, smtp, db_backend):
    config = config_for(smtp)
    ids = [raise_one(subject=f"company:{i}") for i in range(6)]
    db = moodle.db
    errors = []

    def deliver():
        try:
            with db.connection_context():
                notify.deliver_pending(config, NOW)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(smtp.messages) == len(ids)
    assert {Alert.get_by_id(i).delivery_status for i in ids} == {"delivered"}


def test_smtp_login_uses_the_systemd_credential_and_never_logs_the_password(
    moodle, tmp_path, monkeypatch, caplog
):
    (tmp_path / "smtp_password").write_text(PASSWORD + "\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    with SmtpSink(require_auth=True) as sink:
        config = config_for(sink, smtp_user="alerts")
        raise_one()
        assert notify.deliver_pending(config, NOW)["delivered"] == 1
        assert sink.logins == ["alerts"] and len(sink.messages) == 1

        (tmp_path / "smtp_password").write_text("wrong")
        alert_id = raise_one(subject="other")
        assert notify.deliver_pending(config, NOW)["failed"] == 1
        error = Alert.get_by_id(alert_id).delivery_error
        assert "SMTP 127.0.0.1" in error and "535" in error
    assert PASSWORD not in caplog.text and "wrong" not in error


def test_missing_password_file_is_a_clear_delivery_error(moodle, smtp, tmp_path):
    config = config_for(smtp, smtp_user="alerts", smtp_password_file=str(tmp_path / "nope"))
    alert_id = raise_one()
    notify.deliver_pending(config, NOW)
    assert "cannot read the SMTP password file" in Alert.get_by_id(alert_id).delivery_error


def test_send_test_alert_reports_each_channel_and_is_audited(moodle, smtp):
    closed = f"http://127.0.0.1:{free_port()}/hook"
    config = config_for(smtp, alert_webhook_url=closed)
    results = notify.send_test_alert(config, actor="ops-anna", now=NOW)
    assert [(r.channel, r.ok) for r in results] == [("email", True), ("webhook", False)]
    assert "refused" in results[1].detail.lower()
    assert len(smtp.messages) == 1 and "test" in smtp.messages[0][1]["Subject"]
    test_alert = Alert.get(Alert.alert_type == "test")
    assert test_alert.resolved == 1 and test_alert.resolved_by == "ops-anna"
    audit = Audit.get(Audit.action == "alert.test")
    assert audit.actor == "ops-anna" and json.loads(audit.details)["channels"] == {
        "email": "ok",
        "webhook": "failed",
    }


def test_cli_alerts_test_and_list(moodle, db_url, smtp, hook, tmp_path):
    alx = Alx(
        tmp_path,
        db_url,
        ALX_SMTP_HOST="127.0.0.1",
        ALX_SMTP_PORT=smtp.port,
        ALX_ALERT_EMAILS="ops@example.com",
        ALX_ALERT_WEBHOOK_URL=hook.url,
    )
    result = alx("alerts", "test")
    assert result.code == 0, result
    assert "email    ok" in result.stderr and "webhook  ok" in result.stderr
    assert len(smtp.messages) == 1 and len(hook.posts) == 1
    listed = alx.json("alerts", "list", "--json")
    assert [(a["alert_type"], a["resolved"], a["delivery_status"]) for a in listed] == [
        ("test", True, "delivered")
    ]

    no_channels = Alx(tmp_path, db_url)("alerts", "test")
    assert no_channels.code == 1 and "no delivery channel configured" in no_channels.stderr


SAMPLE_ALERT = {
    "id": 1,
    "alert_type": "sync_failed",
    "severity": "high",
    "subject": "sync",
    "message": "m",
    "timecreated": NOW,
    "hostname": "h",
    "data": {},
}


def test_the_smtp_password_never_travels_unencrypted_to_another_host(tmp_path):
    secret = tmp_path / "smtp-password"
    secret.write_text(PASSWORD)
    secret.chmod(0o600)
    plain = config_for(
        smtp_host="smtp.example.com",
        smtp_user="alerts",
        smtp_password_file=str(secret),
        alert_emails="ops@example.com",
    )
    with pytest.raises(notify.DeliveryError, match="unencrypted"):
        notify.send_email(
            plain,
            SAMPLE_ALERT,
        )


def test_port_465_speaks_smtps(monkeypatch):
    opened = []

    class Recorder:
        def __init__(self, host, port, timeout, context=None):
            opened.append((host, port, context is not None))
            raise OSError("recorded")

    monkeypatch.setattr(notify.smtplib, "SMTP_SSL", Recorder)
    config = config_for(smtp_host="smtp.example.com", smtp_port=465, alert_emails="ops@example.com")
    with pytest.raises(notify.DeliveryError, match="recorded"):
        notify.send_email(
            config,
            SAMPLE_ALERT,
        )
    assert opened == [("smtp.example.com", 465, True)]


def test_webhooks_are_https_or_this_host_and_redirects_are_not_followed(hook):
    from alxapi.config import ConfigError

    with pytest.raises(ConfigError, match="https"):
        config_for(alert_webhook_url="http://hooks.example.com/T000/SECRET")
    config_for(alert_webhook_url="https://hooks.example.com/T000/SECRET")  # accepted
    hook.statuses.append(302)
    with pytest.raises(notify.DeliveryError, match="HTTP 302"):
        notify.send_webhook(
            config_for(hook=hook),
            SAMPLE_ALERT,
        )
    assert hook.posts == [] and hook.followed == []  # not posted again, and the redirect not followed
