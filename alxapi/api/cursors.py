"""REST v1's opaque cursors: a position in a read (``u``, ``c``), its change window (``s``, ``h``)
and its total (``t``), as URL-safe base64 JSON. Anything malformed is an invalid parameter."""

from __future__ import annotations

import base64
import json

from .errors import ApiError

MAX_LENGTH = 512


def encode_cursor(state: dict) -> str:
    raw = json.dumps(state, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_int(value) -> bool:
    """A key or sequence number that fits the database's BIGINT (no bool, no float, not negative)."""
    return type(value) is int and 0 <= value < 2**63


def decode_cursor(text: str, required: tuple[str, ...] = ()) -> dict:
    """An opaque cursor back to its state; anything malformed is an invalid parameter."""
    try:
        if len(text) > MAX_LENGTH:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        state = json.loads(raw)
        if not isinstance(state, dict) or any(state.get(k) is None for k in required):
            raise ValueError("not a cursor")
        for k in ("u", "c", "h", "t"):
            if k in state and not _cursor_int(state[k]):
                raise ValueError(k)
        if state.get("s") is not None and not _cursor_int(state["s"]):
            raise ValueError("s")
        if ("u" in state) != ("c" in state):
            raise ValueError("a position needs both u and c")
        return state
    except (ValueError, UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError("invalidparameter", "malformed cursor") from None
