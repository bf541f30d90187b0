"""The exit statuses of every `alx` command, in one place (sysexits.h where one fits).

systemd units list :data:`CONFIG` in ``RestartPreventExitStatus=``: restarting cannot fix a broken
configuration, so a unit that exits with it stays stopped instead of restarting in a loop.
"""

OK = 0
ERROR = 1  # the command failed; the message says why
USAGE = 2  # bad command line (argparse's own status)
LOCKED = 75  # EX_TEMPFAIL: another sync holds the lock; try again later
CONFIG = 78  # EX_CONFIG: the configuration (a setting, the database URL, the table prefix) is unusable

DESCRIPTION = "0 ok, 1 error, 2 usage error, 75 another sync holds the lock, 78 configuration error"
