"""`alx tui, demo: the console, and the demo site around it."""

from __future__ import annotations

from ..database import connect, require_schema
from .common import add_command, load
from .output import say


def register(sub) -> None:
    add_command(
        sub,
        "tui",
        cmd_tui,
        "open the console (Textual): monitoring, companies, tokens, alerts, export",
        "Open the terminal console on the configured database. Keys are shown in the footer and the\n"
        "command palette (ctrl+p); number keys switch screens, r refreshes, p pauses, q quits.\n"
        "Logs go to log_file (default ~/.local/state/alx/alx-tui.log), never to the screen.",
    )

    p = add_command(
        sub,
        "demo",
        cmd_demo,
        "build a demo site and open the console with the API and worker running",
        "Build (or reuse) an SQLite demo database with synthetic Moodle+IOMAD data, install the ALX\n"
        "tables, sync, and create a demo token. Then start the API (`alx serve`) and the worker\n"
        "(`alx worker`, a sync every 30 s) as child processes with their logs in <file>.logs/,\n"
        "send some demo API traffic, and open the console; quitting it stops them all.\n"
        "The token and curl/Power BI examples are printed when the console closes.",
    )
    p.add_argument(
        "--no-tui",
        action="store_true",
        help="no console: serve the API in the foreground (the worker still runs)",
    )
    p.add_argument(
        "--no-serve", action="store_true", help="only build and sync; no token, API, worker or console"
    )
    p.add_argument(
        "--port", type=int, help="API port for the demo (default api_port, 8080; 0 picks a free one)"
    )
    p.add_argument(
        "--size",
        default="small",
        choices=["tiny", "small", "medium", "large", "1m"],
        help="amount of data: tiny, small (default), medium, large or 1m enrolments",
    )
    p.add_argument(
        "--file", default="alx-demo.sqlite3", help="demo database file (default ./alx-demo.sqlite3)"
    )
    p.add_argument("--rebuild", action="store_true", help="rebuild the file even if it exists")


def cmd_tui(args) -> int:
    from alxtui.app import run_console

    config = load(args)
    db = connect(config)
    require_schema(db, config)
    db.close()
    return run_console(config, db)


def cmd_demo(args) -> int:
    from ..demo.run import run_demo

    return run_demo(args, load, say)
