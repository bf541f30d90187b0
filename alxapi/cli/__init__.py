"""`alx`: one command, subcommands for every job. stdout carries data, stderr carries messages.

One module per command group, each with ``register(subparsers)``; ``output`` and ``common`` hold
what they share. Exit statuses: :mod:`alxapi.exitcodes`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import peewee

from .. import exitcodes
from ..config import ConfigError
from ..errors import UserError, first_line
from . import (
    alerts,
    analytics,
    companies,
    configuration,
    console,
    export,
    reports,
    schedules,
    schema,
    serve,
    sync,
    tokens,
    worker,
)
from .common import configure_logging
from .output import say

EPILOG = f"""\
configuration precedence (highest first):
  command-line flags > environment (ALX_<SETTING>, e.g. ALX_DATABASE_URL, ALX_RATE_LIMIT)
  > config file (--config / ALX_CONFIG, else ./alx.toml, ~/.config/alx/alx.toml, /etc/alx/alx.toml)
  > built-in defaults.  `alx config` shows every value and where it came from.

exit status:
  {exitcodes.DESCRIPTION}
"""

# In the order `alx --help` lists them.
GROUPS = (
    schema,
    sync,
    configuration,
    serve,
    worker,
    alerts,
    export,
    console,
    tokens,
    companies,
    analytics,
    reports,
    schedules,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alx",
        description="ALX Report: IOMAD/Moodle course-progress reporting for Power BI and other BI tools.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help="database URL: sqlite:///path, mysql://user:pw@host/moodle, "
        "postgresql://user:pw@host/moodle (ALX_DATABASE_URL)",
    )
    parser.add_argument("--prefix", metavar="P", help="Moodle table prefix, default mdl_ (ALX_TABLE_PREFIX)")
    parser.add_argument("--config", metavar="PATH", help="config file (ALX_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        configure_logging(args.verbose)
        return args.func(args)
    except ConfigError as exc:
        say("alx: configuration error:\n  " + str(exc).replace("\n", "\n  "))
        return exitcodes.CONFIG
    except UserError as exc:
        say(f"alx: {exc}")
        return exc.code
    except KeyboardInterrupt:
        say("alx: interrupted")
        return 130
    except (peewee.DatabaseError, peewee.InterfaceError) as exc:
        # Anything the database refused that the commands did not foresee (a missing privilege,
        # a lost connection): one line, no traceback; details with --verbose.
        logging.getLogger("alx").debug("database error", exc_info=True)
        say(
            f"alx: database error: {first_line(exc)}. Check the database user's privileges "
            "(README: LEAST-PRIVILEGE GRANTS) and that the server is up; --verbose shows details."
        )
        return exitcodes.ERROR
    except BrokenPipeError:
        # `alx … | head`: the reader left; exit quietly like other Unix tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return exitcodes.ERROR
