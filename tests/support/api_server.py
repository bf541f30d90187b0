"""`alx serve` (Waitress) in a subprocess on a free loopback port, stopped by its own pid."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import threading
import time

from .cli_helpers import alx_command, alx_env

START_TIMEOUT = 30.0
REQUEST_TIMEOUT = 15.0


class Server:
    """`alx serve` on a free loopback port; stderr collected by a reader thread."""

    def __init__(self, db_url: str, home, threads: int = 4, workers: int = 1):
        self.lines: list[str] = []
        self.port = self._start(db_url, home, threads, workers)

    def _start(self, db_url: str, home, threads: int, workers: int) -> int:
        for _attempt in range(3):  # a free port found here may be taken before the server binds it
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            self.proc = subprocess.Popen(
                [
                    *alx_command(),
                    "--db",
                    db_url,
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--threads",
                    str(threads),
                    "--workers",
                    str(workers),
                ],
                env=alx_env(home),
                cwd=home,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
            )
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and self.proc.poll() is None:
                if any(f"127.0.0.1:{port}" in line for line in self.lines):
                    return port
                time.sleep(0.05)
            self.stop()
        raise AssertionError("alx serve did not start:\n" + "".join(self.lines))

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        self.reader.join(timeout=5)
        return self.proc.returncode

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def warnings(self) -> list[str]:
        """Logged warnings and errors, without Waitress's "Task queue depth is N".

        Waitress counts a thread as busy from its start until it first waits for a task, and
        from a task's start until the thread comes back for the next one, which is after the
        client has the response: one client sending requests back to back on a loaded machine
        can see that warning with every thread idle. It is Waitress's load signal for the
        operator, not a fault of the product.
        """
        return [
            line
            for line in self.lines
            if ("warning" in line.lower() or line.startswith(("ERROR ", "CRITICAL ")))
            and not line.startswith("WARNING waitress.queue: Task queue depth is ")
        ]
