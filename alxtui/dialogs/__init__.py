"""Modal dialogs: confirmation, token creation, the token shown once (OSC 52 copy), export options.

Every dialog is keyboard-first: its keys are bindings with ids (remappable through ``[keymap]``),
shown in its footer; Escape always cancels. Database work runs through
:func:`alxtui.actions.run_action` (a thread worker, one unit of work, core services only).
"""

from .confirm import ConfirmDialog, form_row
from .export import ExportDialog
from .schedules import SavedReportDialog, SchedulesDialog
from .tokens import TokenCreateDialog, TokenShownDialog

__all__ = [
    "ConfirmDialog",
    "ExportDialog",
    "SavedReportDialog",
    "SchedulesDialog",
    "TokenCreateDialog",
    "TokenShownDialog",
    "form_row",
]
