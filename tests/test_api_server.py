"""The API served for real: `alx serve` (Waitress) in a subprocess on loopback, spoken to with a plain
HTTP/1.1 keep-alive client. Bad input must not take the server down, and its logs never show a query
string or a token. The server is stopped by its own pid; every wait is bounded."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from models.plugin import ApiLog, RequestCounter

from .support.api_helpers import FUNCTION, build_site
from .support.api_server import Server
from .support.dbservers import child_pids, wait_for_exit
from .support.procnet import ESTABLISHED, tcp_sockets

REQUEST_TIMEOUT = 15.0


@pytest.fixture
def served(db_url, tmp_path):
    site = build_site(db_url, rate_limit=0)
    server = Server(db_url, tmp_path / "home")
    yield site, server
    server.stop()


def request(conn, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def moodle_form(token: str, **params) -> bytes:
    return urlencode(
        {"wstoken": token, "wsfunction": FUNCTION, "moodlewsrestformat": "json", **params}
    ).encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
MOODLE = "/webservice/rest/server.php"


def error_code(body: bytes) -> str:
    """A Moodle error's code, in JSON or (when the format could not be read from the request) XML."""
    if body.startswith(b"<?xml"):
        return re.search(rb"<ERRORCODE>(\w+)</ERRORCODE>", body).group(1).decode()
    return json.loads(body)["errorcode"]


def test_served_endpoints_and_bad_input(served):
    site, server = served
    token = site.tokens[1]
    conn = server.connection()
    # Moodle endpoint: POST form, success and an error, on one kept-alive connection.
    status, headers, body = request(
        conn, "POST", "/webservice/rest/server.php", moodle_form(token, limit=4), FORM
    )
    rows = json.loads(body)
    assert status == 200 and headers["content-type"] == "application/json"
    assert [(r["userid"], r["courseid"]) for r in rows] == [(100, 10), (100, 11), (101, 10), (101, 11)]
    status, _, body = request(conn, "POST", "/webservice/rest/server.php", moodle_form("0" * 32), FORM)
    assert status == 200 and json.loads(body) == {
        "exception": "moodle_exception",
        "errorcode": "invalidtoken",
        "message": "Invalid token - token not found",
    }
    # REST v1: pages followed on the same connection, with the token in each of its three places.
    seen, cursor, page = [], None, 0
    for page in range(20):
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        how = page % 3
        if how == 2:
            query["api_key"] = token
        hdrs = {"Authorization": f"Bearer {token}"} if how == 0 else {"X-API-Key": token} if how == 1 else {}
        status, headers, body = request(
            conn, "GET", "/api/v1/course-progress?" + urlencode(query), headers=hdrs
        )
        assert status == 200, body
        assert re.fullmatch(r"[0-9.]+ms", headers["x-response-time"])
        doc = json.loads(body)
        seen += [(d["userid"], d["courseid"]) for d in doc["data"]]
        cursor = doc["meta"]["next"]
        if cursor is None:
            break
    assert page == 3 and len(seen) == len(set(seen)) == 10
    status, headers, body = request(
        conn, "GET", "/api/v1/course-progress?limit=0", headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 400 and headers["content-type"] == "application/problem+json"
    for path in ("/api/v1/health", "/healthz"):
        status, headers, body = request(conn, "GET", path)
        assert status == 200 and json.loads(body)["database"]["reachable"] is True
        assert headers["x-content-type-options"] == "nosniff"
    status, _, body = request(conn, "GET", "/metrics")
    assert status == 200 and b"alx_http_requests_total" in body
    # Through a proxy on this host (X-Forwarded-For, no trusted_proxy): a stranger, not an operator.
    proxied = {"X-Forwarded-For": "203.0.113.9"}
    status, _, body = request(conn, "GET", "/healthz", headers=proxied)
    assert status == 200 and json.loads(body) == {"status": "ok"}
    status, _, body = request(conn, "GET", "/metrics/", headers=proxied)
    assert status == 403 and b"alx_http" not in body
    conn.close()

    # Bad input, each on a fresh connection (the server may close one after refusing it).
    def fresh(method, path, body=None, headers=None):
        c = server.connection()
        try:
            return request(c, method, path, body, headers)
        except (ConnectionError, http.client.HTTPException):
            return None, {}, b""
        finally:
            c.close()

    big = moodle_form(token) + b"&pad=" + b"x" * (200 * 1024)  # over the app's 64 KiB body limit
    status, _, body = fresh("POST", "/webservice/rest/server.php", big, FORM)
    assert status == 200 and error_code(body) == "requesttoolarge"
    # The same body sent chunked (no Content-Length): the 64 KiB limit holds as well.
    c = server.connection()
    try:
        pieces = (big[i : i + 8192] for i in range(0, len(big), 8192))
        c.request("POST", "/webservice/rest/server.php", body=pieces, headers=FORM, encode_chunked=True)
        r = c.getresponse()
        assert r.status == 200 and error_code(r.read()) == "requesttoolarge"
    finally:
        c.close()
    # Announced bigger than Waitress's limit: refused from the headers alone, before any body is read.
    with socket.create_connection(("127.0.0.1", server.port), timeout=REQUEST_TIMEOUT) as s:
        s.sendall(
            b"POST /webservice/rest/server.php HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 2097152\r\n\r\nwstoken="
        )
        assert s.recv(100).startswith(b"HTTP/1.1 413 ")
    status, _, body = fresh(
        "POST", "/webservice/rest/server.php", moodle_form(token) + b"&limit=\xff\xfe\xc3", FORM
    )
    assert status == 200 and error_code(body) == "invalidparameter"
    status, _, body = fresh(
        "POST",
        "/webservice/rest/server.php",
        json.dumps({"wstoken": token}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200 and error_code(body) in ("invalidparameter", "invalidtoken")
    status, _, body = fresh(
        "GET",
        "/api/v1/course-progress?" + "cursor=" + "A" * 20_000,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert status == 400
    status, _, _ = fresh("GET", "/api/v1/course-progress?" + "x=" + "A" * 300_000)  # over the header limit
    assert status == 431
    status, _, _ = fresh(
        "GET", "/api/v1/course-progress?limit=%ff%fe&api_key=%c3", headers={"X-API-Key": token}
    )
    assert status == 400
    status, _, _ = fresh("GET", "/api/v1/%ff%00/../../etc/passwd")
    assert status in (400, 404)
    status, _, _ = fresh("POST", "/api/v1/course-progress", b"{}", {"Content-Type": "application/json"})
    assert status == 405
    # Half a request, then the connection drops: the server shrugs it off.
    with socket.create_connection(("127.0.0.1", server.port), timeout=REQUEST_TIMEOUT) as s:
        s.sendall(
            b"POST /webservice/rest/server.php HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nwstoken="
        )
    # Still up and answering.
    assert server.alive()
    status, _, body = fresh("POST", "/webservice/rest/server.php", moodle_form(token, limit=1), FORM)
    assert status == 200 and len(json.loads(body)) == 1

    assert server.stop() == 0  # SIGTERM is a requested stop
    logs = server.stderr
    assert "GET /api/v1/course-progress 200" in logs  # the request log is there ...
    assert (
        token not in logs and "api_key" not in logs and "cursor=" not in logs and "?" not in logs
    )  # ... bare
    assert "Traceback" not in logs
    for row in ApiLog.select():
        assert token not in " ".join(str(v) for v in row.__data__.values())


def test_concurrent_keep_alive_clients(served):
    site, server = served
    token = site.tokens[1]
    errors: list[str] = []
    counts: list[int] = []

    def client(n: int):
        conn = server.connection()
        try:
            for i in range(10):
                if i % 2:
                    status, _, body = request(
                        conn,
                        "POST",
                        "/webservice/rest/server.php",
                        moodle_form(token, limit=5, offset=0),
                        FORM,
                    )
                    rows = json.loads(body)
                else:
                    status, _, body = request(
                        conn,
                        "GET",
                        f"/api/v1/course-progress?limit={1 + n}",
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    rows = json.loads(body)["data"]
                if status != 200:
                    errors.append(f"{status} {body[:200]!r}")
                counts.append(len(rows))
        except Exception as exc:  # collected, asserted below
            errors.append(repr(exc))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors[:5]
    assert len(counts) == 60


def test_the_api_caps_malloc_arenas_unless_told_otherwise(monkeypatch):
    from alxapi.http.serve import limit_malloc_arenas

    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas() is True  # glibc accepted the cap (Linux)
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False  # the operator's own setting wins


def test_the_background_writer_writes_within_seconds_and_at_shutdown(db_url, tmp_path):
    """Served requests are in the request log and the rate-limit counter a moment later (the writer
    runs every second), and everything is there after a SIGTERM right after the last request."""
    site = build_site(db_url, rate_limit=1000)
    server = Server(db_url, tmp_path / "home")
    try:
        conn = server.connection()
        for _ in range(3):
            status, _, body = request(
                conn, "POST", "/webservice/rest/server.php", moodle_form(site.tokens[1]), FORM
            )
            assert status == 200 and body.startswith(b"[")
        # The writer writes the log rows and the counts one after the other: wait for both.
        deadline = time.monotonic() + 10
        while written() != (3, 3) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert written() == (3, 3)
        for _ in range(5):
            request(conn, "POST", "/webservice/rest/server.php", moodle_form(site.tokens[1]), FORM)
        conn.close()
    finally:
        assert server.stop() == 0
    assert written() == (8, 8)


def written() -> tuple[int, int]:
    """(request-log rows, the token's count of today) as the database has them now."""
    counter = RequestCounter.get_or_none()
    return ApiLog.select().count(), counter.count if counter else 0


def wait_for(condition, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_worker_processes_share_the_port_a_dead_one_is_replaced_and_all_stop_cleanly(db_url, tmp_path):
    """`alx serve --workers 2`: two processes answer on one port; a worker killed is started again
    while the other answers; SIGTERM to all of them stops them with exit status 0 and their request
    logs flushed."""
    site = build_site(db_url, rate_limit=0)
    server = Server(db_url, tmp_path / "home", threads=2, workers=2)

    def answered(n: int) -> None:
        for _ in range(n):  # a new connection each time: the kernel picks the worker
            conn = server.connection()
            status, _, body = request(conn, "POST", MOODLE, moodle_form(site.tokens[1], limit=2), FORM)
            conn.close()
            assert status == 200 and len(json.loads(body)) == 2, body[:200]

    try:
        assert wait_for(lambda: len(set(child_pids(server.proc.pid))) == 2)
        first = set(child_pids(server.proc.pid))
        answered(10)
        assert wait_for(lambda: ApiLog.select().count() == 10)  # both workers' writers ran
        killed = min(first)
        os.kill(killed, signal.SIGKILL)
        assert wait_for(lambda: len(set(child_pids(server.proc.pid)) - {killed}) == 2), server.stderr
        assert f"(pid {killed}) ended (signal SIGKILL); starting it again" in server.stderr
        answered(10)
        workers = set(child_pids(server.proc.pid))
        # Stopped as systemd stops a unit: SIGTERM to every process of it at once (the workers then
        # get a second one from the parent).
        for pid in (server.proc.pid, *workers):
            os.kill(pid, signal.SIGTERM)
        assert server.proc.wait(timeout=30) == 0, server.stderr
    finally:
        server.stop()
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    assert ApiLog.select().count() == 20  # written at shutdown by whichever worker served them
    assert "Traceback" not in server.stderr, server.stderr


def test_worker_processes_take_even_shares_of_connections_opened_together(db_url, tmp_path):
    """30 keep-alive connections opened at once on `alx serve --workers 3`: 10 on each worker. (The
    kernel alone gives them to whichever worker accepts first: at random, all on one at times.)"""
    build_site(db_url, rate_limit=0)
    server = Server(db_url, tmp_path / "home", threads=1, workers=3)
    conns = []
    try:
        assert wait_for(lambda: server.stderr.count(") serving") == 3), server.stderr
        time.sleep(0.5)  # and their loops have turned: each has said it holds no connection
        workers = set(child_pids(server.proc.pid))
        conns = [
            socket.create_connection(("127.0.0.1", server.port), timeout=REQUEST_TIMEOUT) for _ in range(30)
        ]
        for sock in conns:  # each answered: accepted by some worker
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 200"), server.stderr
        held = _connections_held(server.port, workers)
        assert sorted(held.values()) == [10, 10, 10], held
    finally:
        for sock in conns:
            sock.close()
        assert server.stop() == 0, server.stderr


def test_a_stopped_worker_does_not_keep_the_others_from_taking_connections(db_url, tmp_path):
    """A worker that holds the fewest connections but no longer runs (stopped, hung) is left out
    after balance.STALE_AFTER seconds: new connections still get answers from the others."""
    build_site(db_url, rate_limit=0)
    server = Server(db_url, tmp_path / "home", threads=1, workers=2)
    stopped = None
    conns = []
    try:
        assert wait_for(lambda: server.stderr.count(") serving") == 2), server.stderr
        stopped = min(child_pids(server.proc.pid))
        time.sleep(0.5)  # both loops have turned: each has said it holds no connection
        os.kill(stopped, signal.SIGSTOP)
        for _ in range(3):  # each one more than the stopped worker's 0
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=REQUEST_TIMEOUT)
            conns.append(sock)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 200"), server.stderr
        running = set(child_pids(server.proc.pid)) - {stopped}
        assert list(_connections_held(server.port, running).values()) == [3]
    finally:
        if stopped is not None:
            os.kill(stopped, signal.SIGCONT)
        for sock in conns:
            sock.close()
        assert server.stop() == 0, server.stderr


def _connections_held(port: int, pids: set[int]) -> dict[int, int]:
    """How many established connections to ``port`` each process of ``pids`` holds (/proc)."""
    inodes = {inode for _address, inode in tcp_sockets(port, ESTABLISHED)}
    held = {}
    for pid in pids:
        links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        held[pid] = sum(link.startswith("socket:[") and link[8:-1] in inodes for link in links)
    return held


CRASH_LOOP = """
import json, logging
from alxapi.http.workers import listening_socket, serve_workers

messages = []
handler = logging.Handler()
handler.emit = lambda record: messages.append(record.getMessage())
logging.getLogger("alx.api").addHandler(handler)
logging.getLogger("alx.api").setLevel(logging.INFO)
code = serve_workers(None, listening_socket("127.0.0.1", 0), 2, 1, lambda c, s, t, b: 3, print)
print(json.dumps({"code": code, "messages": messages}))
"""


def test_workers_that_keep_dying_stop_the_service_with_status_1():
    """A worker that ends at once every time (e.g. it cannot build its app) is started again until
    more than CRASH_LIMIT deaths in CRASH_WINDOW seconds; then serve_workers stops: status 1."""
    from alxapi.http.workers import CRASH_LIMIT

    run = subprocess.run(
        [sys.executable, "-c", CRASH_LOOP], capture_output=True, text=True, timeout=60, check=True
    )
    announced, result = run.stdout.splitlines()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+ \(2 worker processes\)", announced)
    out = json.loads(result)
    assert out["code"] == 1
    restarts = [m for m in out["messages"] if m.endswith("(exit status 3); starting it again")]
    assert len(restarts) == CRASH_LIMIT, out["messages"]
    assert any(m.endswith(f"the {CRASH_LIMIT + 1}. time in 60 s: stopping") for m in out["messages"])


def test_workers_end_when_the_parent_is_killed(db_url, tmp_path):
    """SIGKILL of `alx serve --workers 2` (no chance to stop them) still ends its workers: no orphan
    keeps the port."""
    build_site(db_url, rate_limit=0)
    server = Server(db_url, tmp_path / "home", threads=1, workers=2)
    assert wait_for(lambda: len(set(child_pids(server.proc.pid))) == 2)
    workers = set(child_pids(server.proc.pid))
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(timeout=15)
    assert wait_for_exit(list(workers), 15), server.stderr
    # Nothing listens on the port any more. Polled: a process whose main thread is a zombie may still
    # be closing its files in its other threads. (Not a bind() of the port: it comes from the
    # ephemeral range, and once free any other test's outgoing connection may hold it.)
    assert wait_for(lambda: _refused(server.port)), f"port {server.port} still accepts connections"


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


# A server whose loop loses the first SystemExit, as Python does with one raised inside a __del__
# (a signal handler runs wherever the main thread is, garbage collection included).
LOSES_THE_FIRST_STOP = """
import sys, time
from types import SimpleNamespace
from alxapi.http import serve

class Writer:
    def start(self): pass
    def close(self): print("flushed", flush=True)

class Server:
    application = SimpleNamespace(context=SimpleNamespace(writer=Writer()))
    def run(self):
        lost = ready = False
        while True:
            try:
                if not ready:  # inside the try: the signal cannot come before it
                    ready = True
                    print("ready", flush=True)
                time.sleep(0.01)
            except SystemExit:
                if not lost:
                    lost = True
                    print("lost", flush=True)
                    continue
                return  # as Waitress's run() does on SystemExit
    def close(self): pass

sys.exit(serve._run(Server(), lambda: None))
"""


def test_a_stop_signal_lost_in_a_finalizer_is_repeated_until_the_server_stops():
    proc = subprocess.Popen(
        [sys.executable, "-c", LOSES_THE_FIRST_STOP],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)  # one signal, as systemd sends
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.splitlines() == ["lost", "flushed"], (out, err)


# A worker that is told to stop while it starts, the signal handled inside a finalizer (the garbage
# collector runs them wherever the interpreter is, imports included).
STOPPED_IN_A_FINALIZER = """
import signal
from alxapi.http import workers

class Finalized:
    def __del__(self):
        workers._exit_now(signal.SIGTERM, None)

Finalized()
print("served on", flush=True)
"""


def test_a_worker_stopped_in_a_finalizer_while_it_starts_exits():
    run = subprocess.run(
        [sys.executable, "-c", STOPPED_IN_A_FINALIZER], capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 0 and "served on" not in run.stdout, (run.stdout, run.stderr)
