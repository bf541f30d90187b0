"""What the command modules share: declaring commands, loading the configuration, opening the
database, logging for long-running commands."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator

from .. import exitcodes
from ..config import Config, load_config
from ..database import connect, require_schema
from ..errors import UserError
from .output import say

FORMATTER = argparse.RawDescriptionHelpFormatter


def add_command(sub, name: str, func: Callable, help_text: str, description: str | None = None):
    """``alx NAME``: a command run by ``func(args)``."""
    p = sub.add_parser(name, help=help_text, description=description or help_text, formatter_class=FORMATTER)
    p.set_defaults(func=func)
    return p


def add_group(sub, name: str, help_text: str, description: str):
    """``alx NAME <action>``: a group of actions (token, company, alerts…); returns its subparsers."""
    p = sub.add_parser(name, help=help_text, description=description, formatter_class=FORMATTER)
    return p.add_subparsers(dest=f"{name}_action", metavar="<action>", required=True)


def add_action(parent, name: str, func: Callable, help_text: str, description: str | None = None):
    """``alx GROUP NAME``: one action of a group."""
    p = parent.add_parser(
        name, help=help_text, description=description or help_text, formatter_class=FORMATTER
    )
    p.set_defaults(func=func)
    return p


def load(args, *, warn: bool = True, **flags) -> Config:
    """The configuration: the global options (``--db``, ``--prefix``, ``--config``) and ``flags``
    (setting name -> the command's flag value, None when not given) over env, file and defaults."""
    base = {"database_url": args.db, "table_prefix": args.prefix}
    config = load_config(flags={**base, **flags}, config_path=args.config)
    if warn:  # on stderr, so a typo'd variable or a readable secrets file does not go unnoticed
        for warning in config.warnings:
            say(f"alx: warning: {warning}")
    return config


def connect_installed(args) -> Config:
    """Load the configuration and open the database, refusing one without our installed tables."""
    config = load(args)
    db = connect(config)
    require_schema(db, config)
    return config


def configure_logging(verbose: bool, level: str = "info") -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if verbose else getattr(logging, level.upper()),
                        format="%(levelname)s %(name)s: %(message)s")  # fmt: skip


def apply_logging(config: Config, verbose: bool) -> None:
    """Long-running commands log at log_level, to stderr (journald) and to log_file when set."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else getattr(logging, config.log_level.upper()))
    if config.log_file:
        try:
            handler = logging.FileHandler(config.log_file, encoding="utf-8")
        except OSError as exc:
            raise UserError(
                f"cannot write the log file {config.log_file} (log_file, from "
                f"{config.source('log_file')}): {exc.strerror or exc}",
                code=exitcodes.CONFIG,
            ) from None
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)


@contextlib.contextmanager
def stop_on_signals(announce: Callable[[str], None]) -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT (after ``announce(signal name)``), for work that stops at a
    safe point (a sync at its batch boundary); the previous handlers are back afterwards."""
    stop = threading.Event()

    def on_signal(signum, frame):
        announce(signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
