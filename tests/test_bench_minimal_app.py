"""bench.minimal_app, the ceiling `make bench-api` measures ALX against: it must answer as ALX's
Moodle endpoint does (the same page bodies by offset), in one process and in several on one socket."""

from __future__ import annotations

import http.client
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .support.dbservers import free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("workers", [1, 2])
def test_the_minimal_app_answers_the_pages_it_was_given_and_stops_on_sigterm(workers, tmp_path):
    bodies = tmp_path / "bodies.pickle"
    bodies.write_bytes(pickle.dumps({"0": b'[{"userid": 1}]', "100": b"[]"}))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.minimal_app", "--port", str(port), "--threads", "2",
         "--bodies", str(bodies), "--workers", str(workers)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        answers = {}
        deadline = time.monotonic() + 30
        for offset in ("0", "100", "200"):
            while True:
                assert proc.poll() is None, proc.communicate()
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    conn.request("POST", "/webservice/rest/server.php", body=f"wstoken=x&offset={offset}",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
                    resp = conn.getresponse()
                    answers[offset] = (resp.status, resp.read())
                    conn.close()
                    break
                except ConnectionRefusedError:
                    assert time.monotonic() < deadline, "the minimal app did not start"
                    time.sleep(0.05)
        assert answers == {"0": (200, b'[{"userid": 1}]'), "100": (200, b"[]"), "200": (404, b"")}
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
