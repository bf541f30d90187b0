"""Operator actions (sync now, save, revoke, export…) run off the UI thread, one way everywhere.

:func:`run_action` runs the work in a thread worker, inside one database unit of work, and posts
an :class:`ActionDone` back to the screen or dialog that asked: what to say, whether it worked,
and the work's result. The work returns the text to show (or an :class:`Outcome` when it has more
to hand back); it raises :class:`ActionRefused` when it was not done for a reason the operator can
act on. Anything else is logged in full to the log file and shown on one line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.dom import DOMNode
from textual.message import Message

from alxapi.errors import describe

log = logging.getLogger("alxtui")


class ActionRefused(Exception):
    """The action was not done; the message says why (shown as it is)."""


@dataclass
class Outcome:
    text: str
    ok: bool = True
    data: Any = None


@dataclass
class ActionDone(Message):
    """An operator's action finished in its worker thread."""

    action: str
    ok: bool
    text: str
    data: Any = None


def run_action(
    node: DOMNode,
    action: str,
    work: Callable[[], str | Outcome],
    *,
    failed: str,
    expected: tuple[type[Exception], ...] = (),
    unit: bool = True,
) -> None:
    """Run ``work`` in a thread worker and post :class:`ActionDone` to ``node``.

    ``failed`` starts the text shown when the work raises (``"Not saved"``); an ``expected``
    exception (a service's own refusal, such as ``SettingError``) is shown by its message alone.
    ``unit``: run inside ``ctx.unit()`` (off for work that manages its own connections, the sync).
    """
    ctx = node.app.ctx  # type: ignore[attr-defined]

    def run() -> None:
        try:
            if unit:
                with ctx.unit():
                    outcome = work()
            else:
                outcome = work()
        except ActionRefused as exc:
            done = ActionDone(action, False, str(exc))
        except expected as exc:
            done = ActionDone(action, False, f"{failed}: {exc}")
        except Exception as exc:  # a bug or an outage: the traceback goes to the log file only
            log.exception("%s failed", action)
            done = ActionDone(action, False, f"{failed}: {describe(exc)}")
        else:
            if isinstance(outcome, str):
                outcome = Outcome(outcome)
            done = ActionDone(action, outcome.ok, outcome.text, outcome.data)
        node.post_message(done)

    node.run_worker(run, thread=True, group=action, name=action)
