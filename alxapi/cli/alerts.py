"""`alx alerts list|test|resolve."""

from __future__ import annotations

from .. import clock, exitcodes
from ..alerts.kinds import ALERT_TYPES, SEVERITIES
from ..errors import UserError
from .common import add_action, add_group, connect_installed
from .output import print_json, say, when


def register(sub) -> None:
    actions = add_group(
        sub,
        "alerts",
        "list, resolve and test alerts",
        "Alerts raised by the worker's checks (sync failures, slow or failing API, cache, usage,\n"
        "security). Types: " + ", ".join(ALERT_TYPES) + ".",
    )
    p = add_action(actions, "list", cmd_alerts_list, "recent alerts, newest first")
    p.add_argument("--status", choices=["open", "resolved"], help="only open or only resolved alerts")
    p.add_argument("--severity", choices=SEVERITIES, help="at least this severity")
    p.add_argument(
        "--type", dest="alert_type", choices=ALERT_TYPES, metavar="TYPE", help="only this alert type"
    )
    p.add_argument("--limit", type=int, default=50, metavar="N", help="how many (default 50)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add_action(
        actions,
        "test",
        cmd_alerts_test,
        "raise a test alert and deliver it through every channel now",
        "Raise a test alert and deliver it at once by e-mail and webhook (when configured), printing\n"
        "each channel's result. Exit 1 if any channel failed or none is configured.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add_action(actions, "resolve", cmd_alerts_resolve, "mark an alert resolved (audited)")
    p.add_argument("id", type=int, metavar="ID", help="alert id, from `alx alerts list`")


def cmd_alerts_list(args) -> int:
    from ..alerts.lifecycle import list_alerts

    config = connect_installed(args)
    rows = list_alerts(
        status=args.status, severity=args.severity, alert_type=args.alert_type, limit=args.limit
    )
    if args.json:
        print_json(rows)
        return exitcodes.OK
    if not rows:
        say("no alerts")
        return exitcodes.OK
    print(
        f"{'id':>5}  {'raised':19}  {'severity':8}  {'type':19}  {'subject':22}  {'state':9}  {'delivery':9}  message"
    )
    for a in rows:
        state = "resolved" if a["resolved"] else "open"
        print(
            f"{a['id']:>5}  {when(a['timecreated'], config.timezone):19}  {a['severity']:8}  {a['alert_type']:19}  "
            f"{a['subject'][:22]:22}  {state:9}  {a['delivery_status']:9}  {a['message']}"
        )
    return exitcodes.OK


def cmd_alerts_test(args) -> int:
    from ..alerts.delivery import send_test_alert
    from ..audit import current_actor

    config = connect_installed(args)
    results = send_test_alert(config, actor=current_actor(), now=clock.now())
    if args.json:
        print_json([vars(r) for r in results])
    elif not results:
        say(
            "alx: no delivery channel configured: set smtp_host and alert_emails, and/or alert_webhook_url "
            "(the test alert is visible in the console and `alx alerts list`)"
        )
    else:
        for r in results:
            say(f"{r.channel:8} {'ok' if r.ok else 'FAILED':6}  {r.detail}")
    return exitcodes.OK if results and all(r.ok for r in results) else exitcodes.ERROR


def cmd_alerts_resolve(args) -> int:
    from ..alerts.lifecycle import AlertError, resolve_alert
    from ..audit import current_actor

    connect_installed(args)
    try:
        changed = resolve_alert(args.id, current_actor(), clock.now())
    except AlertError as exc:
        raise UserError(f"{exc} (see `alx alerts list`)") from None
    say(f"alert {args.id} resolved" if changed else f"alert {args.id} was already resolved")
    return exitcodes.OK
