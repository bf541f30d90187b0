"""Access control for the API: tokens (managed and Moodle-issued) and per-company settings.

Core services only: no HTTP or console imports. The HTTP layer calls ``tokens.authenticate`` and
``settings.load``; the CLI and the console manage tokens and settings through the same functions.
"""

from .settings import CompanySettings, SettingError, enabled_courses, load, set_values
from .tokens import AuthError, Principal, TokenError, authenticate, create_token, list_tokens, revoke_token

__all__ = [
    "AuthError",
    "CompanySettings",
    "Principal",
    "SettingError",
    "TokenError",
    "authenticate",
    "create_token",
    "enabled_courses",
    "list_tokens",
    "load",
    "revoke_token",
    "set_values",
]
