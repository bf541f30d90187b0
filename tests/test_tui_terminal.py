"""`alx tui` in a real pseudo-terminal: it draws, logs only to its file, and exits cleanly (status 0)
when the terminal goes away, as when an SSH session drops."""

from __future__ import annotations

import os
import pty
import select
import sys
import threading
import time

from alxtui.terminal import HangupSafeWriter

from .support.cli_helpers import alx_env
from .support.tui_helpers import build_console_site

WAIT = 30.0


def read_until(fd: int, needle: bytes, deadline: float) -> bytes:
    seen = b""
    while needle not in seen:
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} never appeared; the terminal showed:\n{seen[-2000:]!r}")
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def wait_exit(pid: int, deadline: float) -> int:
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("the console did not exit after its terminal went away")


def test_console_draws_in_a_terminal_and_exits_0_on_hangup(tmp_path):
    site = build_console_site(f"sqlite:///{tmp_path / 'site.sqlite3'}")
    site.db.close()
    log_file = tmp_path / "console.log"
    env = alx_env(
        tmp_path / "home", ALX_LOG_FILE=str(log_file), TERM="xterm-256color", COLUMNS="80", LINES="24"
    )
    pid, fd = pty.fork()
    if pid == 0:  # the child: the console on the pty's slave side
        os.execve(sys.executable, [sys.executable, "-m", "alxapi", "--db", site.url, "tui"], env)
    deadline = time.monotonic() + WAIT
    try:
        screen = read_until(fd, b"Control Center", deadline)
        read_until(fd, b"Calls today", deadline)  # the first refresh has been drawn
    finally:
        os.close(fd)  # hang up: the kernel sends SIGHUP to the console's session
    assert wait_exit(pid, time.monotonic() + WAIT) == 0
    assert b"Traceback" not in screen
    log = log_file.read_text() if log_file.exists() else ""
    assert "Traceback" not in log, log
    # It closed by itself: the hang-up watchdog (the last resort, alxtui.app.leave_soon) had nothing to do.
    assert "the terminal went away" in log and "did not close within" not in log, log


class HungUpTerminal:
    """A terminal after the SSH session dropped: every write fails with EIO."""

    def write(self, text: str) -> int:
        raise OSError(5, "Input/output error")

    def flush(self) -> None:
        raise OSError(5, "Input/output error")

    def fileno(self) -> int:
        return 1


def test_the_writer_keeps_draining_after_the_terminal_is_gone():
    """Textual's own writer thread dies on the first failed write, and the 31st write then blocks for
    ever (the race behind a console that did not exit on hang-up)."""
    writer = HangupSafeWriter(HungUpTerminal())
    writer.start()
    done = threading.Event()

    def shut_down_like_the_console() -> None:
        for _ in range(200):  # far more than the queue holds
            writer.write("\x1b[2J")
        writer.stop()
        done.set()

    threading.Thread(target=shut_down_like_the_console, daemon=True).start()
    assert done.wait(10), "writes blocked after the terminal went away"
    assert not writer.is_alive()
