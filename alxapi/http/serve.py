"""Running the API under Waitress with production settings (`alx serve`, `alx demo`)."""

from __future__ import annotations

import _thread
import ctypes
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable

from waitress.server import create_server

from ..config import Config
from .app import create_app
from .workers import STOP_SIGNALS, listening_socket, serve_workers

STOP_REPEAT_SECONDS = 1.0  # a stop signal lost in a __del__ is repeated this often (_insist)

log = logging.getLogger("alx.api")
MALLOC_ARENAS = 2  # glibc's default is 8 per core: each API thread would grow its own heap
_M_ARENA_MAX = -8  # mallopt() parameter (malloc.h)
PROXY_HEADERS = "x-forwarded-for x-forwarded-host x-forwarded-proto x-forwarded-port"


def build_server(config: Config, host: str, port: int, threads: int, sock: socket.socket | None = None):
    """A Waitress server for the app: one pooled DB connection per thread, no tracebacks to clients.
    ``sock``: an already listening socket to serve instead of binding ``host``/``port``.

    Behind nginx, set ``trusted_proxy`` (e.g. 127.0.0.1) so Waitress takes the client address from
    X-Forwarded-For; otherwise those headers are dropped.
    """
    app = create_app(config, pool_size=threads)
    options = dict(
        **({"sockets": [sock]} if sock is not None else {"host": host, "port": port}),
        threads=threads,
        connection_limit=100,
        channel_timeout=120,
        ident="",
        expose_tracebacks=False,
        # Without a trusted proxy the app keeps X-Forwarded-For only to know that a proxy (whose address
        # is not the client's) forwarded the request: it never takes an address from it.
        clear_untrusted_proxy_headers=bool(config.trusted_proxy),
        max_request_body_size=1 << 20,
    )
    if config.trusted_proxy:
        options.update(trusted_proxy=config.trusted_proxy, trusted_proxy_headers=PROXY_HEADERS)
    return create_server(app, **options)


def limit_malloc_arenas() -> bool:
    """Cap glibc's malloc arenas before the threads start (unless MALLOC_ARENA_MAX says otherwise):
    under 50 clients paging 1000-row pages the process peaked at 253 MB instead of 300 MB
    (make bench-cache). Elsewhere (musl, macOS) nothing to do."""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS))
    except (OSError, AttributeError):
        return False


def serve(
    config: Config,
    host: str,
    port: int,
    threads: int,
    announce: Callable[[str], None],
    workers: int = 1,
) -> int:
    """Serve until SIGTERM/SIGINT; return the exit status (0 on a requested stop). ``workers`` > 1:
    that many processes on one socket (alxapi.http.workers)."""
    limit_malloc_arenas()
    if workers > 1:
        sock = listening_socket(host, port)
        try:
            return serve_workers(config, sock, workers, threads, _serve_socket, announce)
        finally:
            sock.close()
    server = build_server(config, host, port, threads)
    return _run(server, lambda: announce(f"http://{server.effective_host}:{server.effective_port}"))


def _serve_socket(config: Config, sock: socket.socket, threads: int, ready: Callable[[object], None]) -> int:
    """One worker process of ``serve(workers=N)``; ``ready(server)`` just before it serves."""
    server = build_server(config, "", 0, threads, sock)
    return _run(server, lambda: ready(server))


def _run(server, announce: Callable[[], None]) -> int:
    stopped = threading.Event()  # Waitress's loop has ended: flushing, then exit

    def stop(signum, frame):
        if stopped.is_set():
            # systemd signals every process of a unit, and the parent of workers signals them too:
            # a second SystemExit now would cut the last flush of the request log short.
            return
        if not insisting.is_set():
            insisting.set()
            threading.Thread(target=_insist, args=(stopped,), name="stop", daemon=True).start()
        raise SystemExit(0)

    insisting = threading.Event()
    for sig in STOP_SIGNALS:
        signal.signal(sig, stop)
    announce()
    writer = server.application.context.writer
    writer.start()
    try:
        server.run()  # Waitress ends its loop on SystemExit
    finally:
        stopped.set()
        server.close()
        writer.close()  # the last second of request-log rows and rate-limit counts
    log.info("stopping on request")
    return 0


def _insist(stopped: threading.Event) -> None:
    """Raised from a signal handler, SystemExit can land in a ``__del__`` (the garbage collector
    finalizing an object), where Python prints and ignores it: the server would serve on. So the
    stop is repeated every second until the loop has ended."""
    while not stopped.wait(STOP_REPEAT_SECONDS):
        _thread.interrupt_main(signal.SIGTERM)
