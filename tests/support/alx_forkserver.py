"""A fork server for `alx` runs: the interpreter and every alxapi module imported once, each run a fork.

An `alx` process spends about 0.3 s of CPU importing Python modules before it does anything, and the
suite runs the command some 800 times (a fifth of its CPU). The server below imports what the console
script imports, once per test process, and then forks one child per run. The child is a process of its
own, as the console script would be: its own environment (``os.environ`` replaced, ``TZ`` re-read),
working directory, stdin/stdout/stderr on the caller's pipes, ``sys.argv``, and it ends the way
``alx`` ends, ``sys.exit(main())`` at the top level of the interpreter (atexit handlers, non-daemon
threads joined, buffers flushed). What it does not re-do is the interpreter's start-up: no module may
read the environment at import time (none does: they read it when called; a test in test_cli compares
the two, and ``ALX_TEST_FORKSERVER=0`` runs the console script everywhere), and what Python fixes at start-up comes from
the server's start (stdio encoding from ``LC_ALL=C.UTF-8``): a test of another locale runs the console
script (``Alx(...)(..., forked=False)``).

Protocol, one connection per run on the server's unix socket: the caller sends a JSON request
(argv, cwd, env) with its three file descriptors (``socket.send_fds``). The server forks a monitor,
which forks the command and writes back two lines: the command's pid, then its exit status as
``subprocess`` reports it (negative: killed by that signal). The server exits when its stdin closes,
i.e. when the test process that started it is gone.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import sys

MAX_REQUEST = 1 << 20


def _preload() -> None:
    """Import what a command may import, so the forks find it in memory."""
    import importlib
    import pkgutil

    import alxapi
    import alxapi.cli  # noqa: F401  (the console script's entry point)
    import models

    for package in (alxapi, models):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.endswith("__main__"):
                continue  # `python -m alxapi` runs main() on import
            importlib.import_module(info.name)


def _serve(path: str) -> dict:
    """Accept runs until stdin closes. Returns (in the forked command only) the run's request."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ)
    while True:
        for key, _ in selector.select(timeout=1.0):
            if key.fileobj is not listener:
                if not os.read(sys.stdin.fileno(), 4096):
                    raise SystemExit(0)  # the test process is gone
                continue
            conn, _ = listener.accept()
            if os.fork() == 0:
                selector.close()
                listener.close()
                return _monitor(conn)
            conn.close()
        _reap()


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _monitor(conn: socket.socket) -> dict:
    """In the monitor: fork the command, report its pid and exit status, exit. Returns in the command."""
    try:
        message, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST, 3)
        while not message.endswith(b"\n"):  # the request is one JSON line
            more = conn.recv(MAX_REQUEST)
            if not more:
                raise EOFError("the caller hung up mid-request")
            message += more
        request = json.loads(message)
        pid = os.fork()
    except BaseException:
        os._exit(1)
    if pid == 0:
        for target, fd in enumerate(fds):  # stdin, stdout, stderr
            os.dup2(fd, target)
            os.close(fd)
        conn.close()
        return request
    try:
        for fd in fds:
            os.close(fd)
        conn.sendall(f"{pid}\n".encode())
        _, status = os.waitpid(pid, 0)
        conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
    finally:
        os._exit(0)


def _become(request: dict) -> None:
    """The forked command takes on the run's environment, directory and arguments."""
    import time

    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    os.chdir(request["cwd"])
    sys.argv = request["argv"]


if __name__ == "__main__":
    # The console script's sys.path[0] is the directory of the `alx` script, not this one.
    sys.path[0] = os.path.dirname(sys.executable)
    _preload()
    _become(_serve(sys.argv[1]))
    from alxapi.cli import main

    sys.exit(main())
