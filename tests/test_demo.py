"""`alx demo`: the API and the worker run as child processes beside the console, demo traffic
reaches the API, and everything stops when the console closes.

The console itself is replaced by a probe here (it needs a terminal; the Pilot tests drive it):
the probe gets exactly what the real console gets — config, database, the API's address.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request

import pytest

from alxapi import cli
from alxapi.cli.common import load
from alxapi.demo.run import run_demo
from alxapi.ops import heartbeat
from models.plugin import ApiLog, SyncRun

from .support.dbservers import pid_alive

WAIT = 60.0


def wait_for(condition, what: str):
    deadline = time.monotonic() + WAIT
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("ALX_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.chdir(tmp_path)


def test_demo_runs_api_worker_and_traffic_for_the_console_then_stops_them(tmp_path, clean_env, capsys):
    seen: dict = {}

    def console(config, db, api_url):
        with urllib.request.urlopen(f"{api_url}/healthz", timeout=5) as response:
            seen["health"] = response.status
        with db.connection_context():
            beat = wait_for(
                lambda: heartbeat.latest(heartbeat.WORKER, now=int(time.time())), "the worker's heartbeat"
            )
            seen["worker_pid"] = beat[0]["pid"]
            seen["history_runs"] = SyncRun.select().count()
            wait_for(
                lambda: (
                    ApiLog.select()
                    .where(
                        ApiLog.user_agent.startswith("alx-demo-traffic")
                        | ApiLog.user_agent.startswith("Microsoft.Data.Mashup")
                    )
                    .count()
                ),
                "demo traffic in the request log",
            )
        seen["api_url"], seen["log_file"] = api_url, config.log_file
        return 0

    args = cli.build_parser().parse_args(
        ["demo", "--size", "tiny", "--file", str(tmp_path / "demo.sqlite3"), "--port", "0"]
    )
    assert run_demo(args, load, lambda message: None, console=console) == 0
    assert seen["health"] == 200
    assert seen["history_runs"] > 7  # a week of seeded history plus the demo's own sync
    assert seen["log_file"].endswith("demo.logs/console.log")
    # Everything stopped with the console: the worker's pid is gone, the API refuses connections.
    assert not pid_alive(seen["worker_pid"])
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{seen['api_url']}/healthz", timeout=2)
    out = capsys.readouterr().out
    assert "The console closed; the API and the worker were stopped" in out and "Bearer" in out
    worker_log = (tmp_path / "demo.logs" / "worker.log").read_text()
    assert "worker started: sync every 30s" in worker_log and "worker stopped" in worker_log
