"""The admin audit trail: who changed what, when (table ``local_alx_api_audit``).

Every change an operator makes through the CLI or the console (tokens created or revoked, company
settings changed) is recorded with the operator's login name. Details are JSON and never hold a
secret (no token, no password).
"""

from __future__ import annotations

import json
import os
import pwd

from models.plugin import Audit

_ACTOR_MAX = 100  # Audit.actor column width


def current_actor() -> str:
    """The operator's login name: ``SUDO_USER`` when run through sudo, else the real uid's name.

    Never empty: a uid without a passwd entry (containers) is named ``uid:<n>``.
    """
    sudo_user = os.environ.get("SUDO_USER", "").strip()
    if sudo_user:
        return sudo_user[:_ACTOR_MAX]
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name.strip()
    except KeyError:
        name = ""
    return (name or f"uid:{uid}")[:_ACTOR_MAX]


def record(actor: str, action: str, target: str, details: dict | None, now: int) -> Audit:
    """Write one audit row (inside the caller's transaction, if any) and return it."""
    return Audit.create(
        timecreated=int(now),
        actor=(actor or "unknown")[:_ACTOR_MAX],
        action=action[:100],
        target=target[:255],
        details=None if details is None else json.dumps(details, sort_keys=True, default=str),
    )
