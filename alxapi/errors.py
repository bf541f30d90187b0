"""Errors every front end shares: :class:`UserError` (what the operator can fix, with its exit
status) and one-line descriptions of any exception for messages, logs and the console.

The API's own errors (Moodle's error codes, HTTP statuses) are in :mod:`alxapi.api.errors`.
"""

from __future__ import annotations

from . import exitcodes


class UserError(RuntimeError):
    """A problem the operator can fix; the message says what to do. ``code`` is the exit status."""

    def __init__(self, message: str, code: int = exitcodes.ERROR):
        super().__init__(message)
        self.code = code


def first_line(exc: BaseException) -> str:
    """The exception's message on one line (its class name when it has none)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def describe(exc: BaseException) -> str:
    """``"ClassName: first line of the message"``: how an unexpected failure is shown to an operator."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
