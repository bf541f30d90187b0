"""The console's terminal driver: Textual's Linux driver, safe when the terminal hangs up.

Textual writes to the terminal from a writer thread fed by a bounded queue (30 writes). When an SSH
session drops, a write fails (EIO) and the writer thread dies with the exception; the queue fills,
and the next write blocks forever, including the ones of the shutdown that the hang-up started.
The console then never exits, holding its database connections (seen once in three runs). This
writer keeps draining its queue after the terminal is gone, discarding what it can no longer write.
"""

from __future__ import annotations

import contextlib

from textual.drivers._writer_thread import WriterThread
from textual.drivers.linux_driver import LinuxDriver


class HangupSafeWriter(WriterThread):
    def run(self) -> None:
        write, flush, get, pending = self._file.write, self._file.flush, self._queue.get, self._queue.qsize
        gone = False
        while (text := get()) is not None:
            if gone:
                continue  # the terminal is gone: keep the queue moving, write nothing
            try:
                write(text)
                if pending() == 0:
                    flush()
            except (OSError, ValueError):  # EIO after a hang-up, or a closed file
                gone = True
        if not gone:
            with contextlib.suppress(OSError, ValueError):
                flush()


class HangupSafeDriver(LinuxDriver):
    def start_application_mode(self) -> None:
        super().start_application_mode()
        # Swap the writer the base class started (stopping it first writes what it has queued).
        started = self._writer_thread
        if started is not None:
            started.stop()
        self._writer_thread = HangupSafeWriter(self._file)
        self._writer_thread.start()
