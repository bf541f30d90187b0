"""`alx config: every effective setting and where it came from."""

from __future__ import annotations

from .. import exitcodes
from .common import add_command, load
from .output import print_json, say


def register(sub) -> None:
    p = add_command(
        sub, "config", cmd_config, "show every effective setting and where it came from (secrets masked)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")


def cmd_config(args) -> int:
    config = load(args, warn=False)  # listed below with the settings
    rows = config.describe()
    if args.json:
        print_json({"file": config.file, "settings": {n: {"value": v, "source": s} for n, v, s in rows}})
        return exitcodes.OK
    width = max(len(n) for n, _, _ in rows)
    print(f"# config file: {config.file or '(none found)'}")
    for name, value, source in rows:
        print(f"{name:<{width}}  {value:<40}  {source}")
    for warning in config.warnings:
        say(f"warning: {warning}")
    return exitcodes.OK
