"""`alx serve --workers N`: N processes of the API sharing one listening socket.

One Python process serves about one core's worth of requests (the GIL: Waitress's parsing, Falcon
and the resource all hold it). With ``api_workers`` above 1 the parent binds the socket, forks the
workers, each of which builds its own app (database pool, response cache, request-log writer) and
runs Waitress on the inherited socket, the kernel giving each new connection to one of them and the
workers keeping their shares even (alxapi.http.balance). The parent only supervises: a worker that
dies is started again (more than ``CRASH_LIMIT`` deaths in ``CRASH_WINDOW`` seconds stop the service
with exit status 1: something is wrong that a restart does not fix), SIGTERM/SIGINT stop the
workers (each finishes its requests and flushes its request log and rate-limit counts) and then the
parent, exit status 0.

What the workers share goes through the database: the daily rate limit (within the tolerance the
README states for several processes), failed-authentication throttling (exact), the request log.
``/metrics`` counts the requests of the worker that answers it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import time
from collections import deque
from collections.abc import Callable

from ..config import Config
from .balance import ConnectionBalance

log = logging.getLogger("alx.api")
CRASH_LIMIT, CRASH_WINDOW = 5, 60.0
STOP_TIMEOUT = 30.0  # seconds a worker gets to finish its requests before SIGKILL
BACKLOG = 1024  # Waitress's default
PR_SET_PDEATHSIG = 1  # prctl() option (linux/prctl.h)
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def listening_socket(host: str, port: int) -> socket.socket:
    """The shared socket, bound and listening (port 0: a free one), non-blocking as Waitress wants."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def serve_workers(
    config: Config,
    sock: socket.socket,
    workers: int,
    threads: int,
    run_worker: Callable[[Config, socket.socket, int, Callable[[object], None]], int],
    announce: Callable[[str], None],
) -> int:
    """Fork ``workers`` processes running ``run_worker(config, sock, threads, ready)``, which calls
    ``ready(server)`` with its Waitress server before serving (the server then takes its share of the
    connections, and the log says that the worker serves); supervise them."""
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    for sig in STOP_SIGNALS:
        signal.signal(sig, stop)
    children: dict[int, int] = {}  # pid -> worker number
    balance = ConnectionBalance(workers)
    deaths: deque[float] = deque()

    parent = os.getpid()

    def start(number: int) -> None:
        # Signals wait until the worker has its own handler: a SIGTERM right after the fork would
        # otherwise run the parent's in the worker, which would then serve on.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        pid = os.fork()
        if pid == 0:  # the worker: its own signal handling, never back into the parent's code
            code = 1
            try:
                for sig in STOP_SIGNALS:  # until the server's own handler (that flushes the log)
                    signal.signal(sig, _exit_now)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
                _end_with_parent(parent)
                code = run_worker(config, sock, threads, lambda server: _ready(server, number, balance))
            except SystemExit as exc:
                code = int(exc.code or 0)
            except BaseException:
                log.exception("API worker %d failed", number)
            finally:
                logging.shutdown()
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        children[pid] = number

    host, port = sock.getsockname()[:2]
    for number in range(workers):
        start(number)
    shown = f"[{host}]" if ":" in host else host
    announce(f"http://{shown}:{port} ({workers} worker processes)")
    while children and not stopping:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            time.sleep(0.2)
            continue
        number = children.pop(pid, None)
        if number is None or stopping:
            continue
        balance.forget(number)
        now = time.monotonic()
        deaths.append(now)
        while deaths and deaths[0] < now - CRASH_WINDOW:
            deaths.popleft()
        if len(deaths) > CRASH_LIMIT:
            log.error(
                "API worker %d (pid %d) ended (%s), the %d. time in %.0f s: stopping",
                *(number, pid, _status(status), len(deaths), CRASH_WINDOW),
            )
            _stop_all(children)
            return 1
        log.warning("API worker %d (pid %d) ended (%s); starting it again", number, pid, _status(status))
        start(number)
    log.info("stopping on request")
    return 0 if _stop_all(children) else 1


def _ready(server, number: int, balance: ConnectionBalance) -> None:
    balance.install(server, number)
    log.info("API worker %d (pid %d) serving", number, os.getpid())


def _stop_all(children: dict[int, int]) -> bool:
    """SIGTERM every worker, wait for them (SIGKILL after ``STOP_TIMEOUT``); all ended cleanly?"""
    clean = True
    for pid in children:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while children:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid in children:
            number = children.pop(pid)
            if os.waitstatus_to_exitcode(status) != 0:
                log.warning("API worker %d (pid %d) ended (%s) while stopping", number, pid, _status(status))
                clean = False
        elif time.monotonic() > deadline:
            for pid in children:
                _signal(pid, signal.SIGKILL)
            deadline = float("inf")
            clean = False
        else:
            time.sleep(0.05)
    return clean


def _exit_now(signum, frame):
    """A worker stopped while it starts: nothing served yet, nothing to flush. Not SystemExit: raised
    from a signal handler it can land in a ``__del__`` (the garbage collector closing a ZipFile while
    the worker imports), where Python prints and ignores it; the worker then served on as an orphan."""
    os._exit(0)


def _end_with_parent(parent: int) -> None:
    """Linux: the worker gets SIGTERM when the parent ends, even by SIGKILL, instead of serving on
    as an orphan that holds the port."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
    except (OSError, AttributeError):  # not Linux: the parent's SIGTERM is what stops the workers
        return
    if os.getppid() != parent:  # the parent ended before prctl
        raise SystemExit(0)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # already ended
        os.kill(pid, sig)


def _status(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    return f"signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
