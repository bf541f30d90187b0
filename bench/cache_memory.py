"""`make bench-cache`: memory of one `alx serve` process under a sustained 50-client load.

Every client reads 1000-row REST v1 pages of random companies from random positions (a BI
refresh fleet paging through a medium/large site), so nearly every page is a new cache entry and
the response cache fills to its bound. The same load runs twice in one run, against the same
database: with the byte bound (`cache_max_mb` 64, the default) and with the bound by entries only
(`cache_max_mb` set out of the way: what the product did before). The server's resident memory is
sampled every second; the table shows the peak and the growth over the last third of the load
(a process that stopped growing shows ~0). Goal: under 300 MB and flat once warm.

Servers listen on loopback and are stopped by their own pid.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

from .api import start_alx, stop

CLIENTS = 50


def build_site(workdir: Path, size: str) -> tuple[str, list[tuple[str, list[tuple[int, int]]]]]:
    """A generated, synced SQLite site; per company a token and its row keys."""
    from alxapi.access import settings as company_settings
    from alxapi.access import tokens
    from alxapi.config import load_config
    from alxapi.demo.generator import generate
    from alxapi.reporting.runner import run_sync
    from models import schema
    from models.db import open_database
    from models.plugin import Reporting

    url = f"sqlite:///{workdir / 'site.sqlite3'}"
    now = int(time.time())
    db = open_database(url, "mdl_")
    with db.connection_context():
        generate(db, "mdl_", size=size, seed=7, now=now)
        schema.install(db)
        run_sync(
            db,
            load_config(flags={"database_url": url}, env={}, search_paths=[]),
            clock=lambda: now,
            full=True,
        )
        companies = []
        for (companyid,) in Reporting.select(Reporting.companyid).distinct().tuples():
            company_settings.set_values(companyid, {"rate_limit": "0"}, actor="bench", now=now)
            token, _ = tokens.create_token(companyid, name="bench-cache", actor="bench", now=now)
            keys = list(
                Reporting.select(Reporting.userid, Reporting.courseid)
                .where(Reporting.companyid == companyid, Reporting.is_deleted == 0)
                .order_by(Reporting.userid, Reporting.courseid)
                .tuples()
            )
            companies.append((token, keys))
    db.close()
    return url, companies


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def client(port: int, companies, stop_at: float, seed: int, counts: list[int]) -> None:
    from alxapi.api.cursors import encode_cursor

    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while time.time() < stop_at:
        token, keys = rng.choice(companies)
        limit = rng.randint(900, 1000)
        start = keys[rng.randrange(len(keys))]
        cursor = encode_cursor(
            {"u": int(start[0]), "c": int(start[1]), "s": None, "h": 2**40, "t": len(keys)}
        )
        conn.request(
            "GET", f"/api/v1/course-progress?limit={limit}&cursor={cursor}", headers={"X-API-Key": token}
        )
        response = conn.getresponse()
        response.read()
        counts[response.status == 200] += 1
    conn.close()


def run_load(url: str, companies, seconds: float, **env) -> dict:
    proc, port = start_alx(url, threads=8, **env)
    try:
        stop_at = time.time() + seconds
        counts = [0, 0]
        threads = [
            threading.Thread(target=client, args=(port, companies, stop_at, i, counts), daemon=True)
            for i in range(CLIENTS)
        ]
        for t in threads:
            t.start()
        samples = []
        while time.time() < stop_at:
            samples.append(rss_mb(proc.pid))
            time.sleep(1.0)
        for t in threads:
            t.join(timeout=120)
        third = max(len(samples) // 3, 1)
        return {
            "peak_mb": round(max(samples), 1),
            "growth_last_third_mb": round(samples[-1] - samples[-third], 1),
            "ok": counts[1],
            "errors": counts[0],
        }
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", default="large", help="generated site size (default large: 100k enrolments)"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="load per case (default 30)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alx-bench-cache-") as tmp:
        print(f"generating and syncing a {args.size} site …", file=sys.stderr)
        url, companies = build_site(Path(tmp), args.size)
        results = {}
        for name, env in (
            ("bounded by bytes (cache_max_mb=64)", {"ALX_CACHE_MAX_MB": 64}),
            ("bounded by entries only (before)", {"ALX_CACHE_MAX_MB": 16_384}),
        ):
            print(f"{CLIENTS} clients for {args.seconds:.0f}s: {name} …", file=sys.stderr)
            results[name] = run_load(url, companies, args.seconds, ALX_CACHE_MAX_ENTRIES=1000, **env)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'case':40} {'peak RSS':>10} {'growth, last third':>19} {'pages':>7} {'errors':>7}")
    for name, r in results.items():
        print(
            f"{name:40} {r['peak_mb']:>8.1f}MB {r['growth_last_third_mb']:>17.1f}MB {r['ok']:>7} {r['errors']:>7}"
        )


if __name__ == "__main__":
    main()
