"""`alx company show|set: per-company API settings."""

from __future__ import annotations

import textwrap

from .. import clock, exitcodes
from ..access.settings import FIELDS
from ..errors import UserError
from .common import add_action, add_group, connect_installed
from .output import print_json, say


def register(sub) -> None:
    fields = textwrap.fill(", ".join(FIELDS), width=76, initial_indent=" " * 22, subsequent_indent=" " * 22)
    companies = add_group(
        sub,
        "company",
        "show or change a company's API settings",
        "Per-company settings (table local_alx_api_settings): response fields, course access,\n"
        "sync mode and window, cache TTL, rate limit and page size. Changes are audited.",
    )
    p = add_action(
        companies,
        "show",
        cmd_company_show,
        "every effective setting, whether it is default, and the enabled courses",
    )
    p.add_argument("id", type=int, metavar="ID", help="IOMAD company id")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add_action(
        companies,
        "set",
        cmd_company_set,
        "change settings (all or nothing)",
        "Change company settings: KEY=VALUE pairs, saved together or not at all.\n"
        "  field_<name>=0|1    hide (0) or show (1) a response field; names:\n" + fields + "\n"
        "  course_<id>=0|1     course access; once any course_<id> is set only courses set\n"
        "                      to 1 are served, otherwise the company's IOMAD courses\n"
        "  sync_mode=0..3      0 auto, 1 always incremental, 2 always full, 3 disabled\n"
        "  sync_window_hours=1..8760   cache_ttl_minutes=0..1440\n"
        "  rate_limit=0..1000000 (0 = unlimited)   max_records=1..10000\n"
        "  KEY=default         remove the override (back to the default / global value)\n"
        "example: alx company set 3 rate_limit=500 field_email=0 course_12=1",
    )
    p.add_argument("id", type=int, metavar="ID", help="IOMAD company id")
    p.add_argument("assignments", nargs="+", metavar="KEY=VALUE", help="settings to change")


def _require_company(companyid: int) -> str:
    from ..access.settings import company_name

    name = company_name(companyid)
    if name is None:
        raise UserError(
            f"no company with id {companyid} in the IOMAD company table; check the id "
            "(company ids are in Moodle: Site administration > IOMAD)"
        )
    return name


def cmd_company_show(args) -> int:
    from ..access import settings as company_settings

    config = connect_installed(args)
    name = _require_company(args.id)
    current = company_settings.load(args.id)
    rows = company_settings.describe(current, config)
    if args.json:
        print_json(
            {
                "companyid": args.id,
                "company": name,
                "settings": {
                    r["key"]: {"value": r["value"], "default": r["default"], "effective": r["effective"]}
                    for r in rows
                },
                "course_rule": current.course_rule,
                "enabled_courses": list(current.courses),
            }
        )
        return exitcodes.OK
    print(f"company {args.id}: {name}")
    width = max(len(r["key"]) for r in rows)
    for r in rows:
        value = r["value"]
        if value is None:
            shown = f"{r['effective']} (global)"
        elif r["key"] == "sync_mode":
            shown = f"{value} ({company_settings.SYNC_MODES[value]})"
        elif r["key"] == "rate_limit" and value == 0:
            shown = "0 (unlimited)"
        else:
            shown = str(value)
        print(f"{r['key']:<{width}}  {shown:<22}  {'default' if r['default'] else 'set'}")
    rule = (
        "course_<id> settings (only courses set to 1)"
        if current.course_rule == "settings"
        else "the company's courses in IOMAD company_course (no course_<id> settings)"
    )
    courses = ", ".join(str(c) for c in current.courses) or "none"
    print(f"enabled courses: {courses}")
    print(f"course rule: {rule}")
    return exitcodes.OK


def cmd_company_set(args) -> int:
    from .. import audit
    from ..access.settings import SettingError, parse_assignments, set_values

    connect_installed(args)
    _require_company(args.id)
    try:
        changes = set_values(args.id, parse_assignments(args.assignments), audit.current_actor(), clock.now())
    except SettingError as exc:
        raise UserError(str(exc)) from None
    if not changes:
        say(f"company {args.id}: nothing changed (the values were already set)")
    for key, old, new in changes:
        say(
            f"company {args.id}: {key} {'default' if old is None else old} -> {'default' if new is None else new}"
        )
    return exitcodes.OK
