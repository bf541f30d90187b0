"""Keeping the connections of `alx serve --workers N` even across the worker processes.

The workers share one listening socket and each new connection goes to whichever worker's loop
calls accept() first. Connections arriving together (a BI tool opening its keep-alive connections,
a client pool after a restart) then land at random: measured on 2 workers and 8 keep-alive clients,
two runs in six put all 8 on one process, which serves about one core's worth (the GIL) while the
other idles, and the service ran at half its speed for as long as those connections lived.

So each worker publishes, in a small shared memory block made before the fork, how many connections
it holds and when its loop last ran; a worker listens for new connections only while it holds no more
than the fewest of the live workers. A worker whose loop has not run for ``STALE_AFTER`` seconds
(stopped, hung, dead and not yet replaced) is left out, so it cannot stop the others from accepting.
Connections are counted, not requests: a kept-alive connection is where a client's next requests go.
"""

from __future__ import annotations

import mmap
import time

STALE_AFTER = 2.0  # seconds without a loop turn after which a worker no longer counts
# Waitress waits up to its loop timeout (1 s) for events. A worker that stopped listening because it
# held more than another must look again soon once the others have caught up, even when its own
# connections are quiet: a new connection waits at most this long for a listener.
LOOP_TIMEOUT = 0.2
_SLOT = 2  # doubles per worker: open connections, time.monotonic() of its last loop turn


class ConnectionBalance:
    """The shared counts of ``workers`` processes; make it before forking them."""

    def __init__(self, workers: int):
        self.workers = workers
        self._memory = mmap.mmap(-1, workers * _SLOT * 8)  # anonymous and shared with the forks
        self._slots = memoryview(self._memory).cast("d")

    def forget(self, number: int) -> None:
        """Worker ``number`` has ended: its connections are gone with it (a new one starts at zero)."""
        self._slots[number * _SLOT] = 0.0
        self._slots[number * _SLOT + 1] = 0.0

    def may_accept(self, number: int, connections: int, now: float) -> bool:
        """Publish worker ``number``'s count; may it take a new connection?"""
        slots = self._slots
        slots[number * _SLOT] = float(connections)
        slots[number * _SLOT + 1] = now
        fewest = min(
            slots[i * _SLOT] for i in range(self.workers) if now - slots[i * _SLOT + 1] < STALE_AFTER
        )
        return connections <= fewest

    def install(self, server, number: int) -> None:
        """Make Waitress ``server`` (worker ``number``) listen only while it may accept."""
        waitress_readable = server.readable  # its connection limit and channel maintenance

        def readable() -> bool:
            if not waitress_readable():
                return False
            return self.may_accept(number, len(server.active_channels), time.monotonic())

        server.readable = readable
        server.adj.asyncore_loop_timeout = LOOP_TIMEOUT
