"""`alx export: a company's reporting rows to CSV, XLSX or JSON."""

from __future__ import annotations

import os
import sys

from .. import clock, exitcodes
from ..errors import UserError
from ..exports.company import FORMATS
from .common import add_command, connect_installed
from .output import say


def register(sub) -> None:
    p = add_command(
        sub,
        "export",
        cmd_export,
        "write a company's reporting rows to CSV, XLSX or JSON",
        "Export the rows the API serves a company: its enabled courses and fields, dates formatted\n"
        "as the API sends them. A file is written under a temporary name and renamed when complete.\n"
        "examples: alx export --company 3 -o progress.csv\n"
        "          alx export --company 3 --format xlsx -o progress.xlsx\n"
        "          alx export --company 3 --format json | jq length",
    )
    p.add_argument("--company", type=int, required=True, metavar="ID", help="IOMAD company id")
    p.add_argument(
        "--format",
        dest="fmt",
        choices=FORMATS,
        default=None,
        help="file format (default: from the -o file's extension, else csv)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="output file (default: stdout; xlsx needs a file or a redirected stdout)",
    )
    p.add_argument(
        "--include-deleted",
        action="store_true",
        help="also rows that left the report (a 'deleted' column says which)",
    )


def cmd_export(args) -> int:
    from ..exports.company import ExportError, export_company

    config = connect_installed(args)
    suffix = os.path.splitext(args.output or "")[1].lower().lstrip(".")
    fmt = args.fmt or (suffix if suffix in FORMATS else "csv")
    if fmt == "xlsx" and not args.output and sys.stdout.isatty():
        raise UserError(
            "an XLSX export is binary: give -o FILE or redirect stdout to a file", code=exitcodes.USAGE
        )
    try:
        count = export_company(
            args.company,
            fmt,
            args.output or sys.stdout,
            now=clock.now(),
            include_deleted=args.include_deleted,
            config=config,
        )
    except ExportError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    say(
        f"exported {count} rows of company {args.company} as {fmt}"
        + (f" to {args.output}" if args.output else "")
    )
    return exitcodes.OK
