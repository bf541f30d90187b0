"""`alx demo`: a ready-to-explore SQLite database with realistic Moodle+IOMAD data, synced."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import peewee

from models import schema
from models.db import open_database
from models.plugin import Reporting

from .. import clock
from ..reporting.sync import SyncEngine, SyncOptions
from ..runtime import UserError

DEMO_SEED = 42


def build_demo_database(path: Path, size: str, now: int, prefix: str = "mdl_") -> dict:
    """Generate into ``path`` atomically: a half-built file is never left under the final name."""
    from .generator import generate

    partial = path.with_name(path.name + ".partial")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    db = open_database(f"sqlite:///{partial}", prefix)
    with db.connection_context():
        # generate() creates the Moodle tables itself and indexes them after loading (faster).
        counts = generate(db, prefix, size=size, seed=DEMO_SEED, now=now)
        schema.install(db)
        db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    os.replace(partial, path)
    return counts


def run_demo(args, load_config, say) -> int:
    path = Path(args.file).resolve()
    if not path.parent.is_dir():
        raise UserError(f"cannot create the demo database {path}: the directory {path.parent} does not exist")
    url = f"sqlite:///{path}"
    config = load_config(args, database_url=url)
    now = clock.now()
    if args.rebuild or not path.exists():
        say(f"building the {args.size} demo database in {path} …")
        started = time.monotonic()
        counts = build_demo_database(path, args.size, now, config.table_prefix)
        say(f"generated {counts.get('user_enrolments', 0):,} enrolments of {counts.get('user', 0):,} users "
            f"in {time.monotonic() - started:.1f}s")
    else:
        say(f"reusing {path} (use --rebuild to start again)")
    db = open_database(url, config.table_prefix)
    with db.connection_context():
        schema.install(db)
        options = SyncOptions(batch_size=config.batch_size, max_sync_time=config.max_sync_time,
                              report_roles=list(config.report_roles),
                              overlap_seconds=config.sync_overlap_seconds)
        result = SyncEngine(db, options, clock=clock.now).run()
    say(f"{result.mode} sync: {result.created} created, {result.updated} updated, {result.deleted} tombstoned, "
        f"{result.unchanged} unchanged in {result.seconds:.2f}s")
    alx = "alx" if sys.argv and Path(sys.argv[0]).name == "alx" else f"{sys.executable} -m alxapi"
    sys.stdout.write(f"""
The demo database is ready: {path}

Try next (or export ALX_DATABASE_URL={url} and drop --db):
  {alx} --db {url} runs              # sync history
  {alx} --db {url} sync              # incremental sync: nothing changed, nothing written
  {alx} --db {url} sync --full --json
  {alx} --db {url} check             # tables and schema health
  {alx} --db {url} config            # every setting and where it came from
""")
    if args.no_serve:
        return 0
    return serve_demo(url, config, config.api_port if args.port is None else args.port, say)


def serve_demo(url: str, config, port: int, say) -> int:
    """Create a demo token for the first company and serve the API in the foreground."""
    from ..access import tokens
    from ..serve import serve

    db = open_database(url, config.table_prefix)
    with db.connection_context():
        companyid = Reporting.select(peewee.fn.MIN(Reporting.companyid)).where(Reporting.is_deleted == 0).scalar()
        token, _ = tokens.create_token(companyid, name="demo", actor="demo", now=clock.now())
    db.close()

    def announce(base: str) -> None:
        sys.stdout.write(f"""
The API is running on {base} (Ctrl-C stops it). Demo token for company {companyid} (shown once): {token}

Moodle-compatible endpoint, as Power BI or a Moodle client calls it:
  curl -s -X POST {base}/webservice/rest/server.php \\
       -d wstoken={token} -d wsfunction=local_alx_report_api_get_course_progress \\
       -d moodlewsrestformat=json -d limit=5

REST v1 (JSON or CSV, cursor paging, change feed):
  curl -s -H 'Authorization: Bearer {token}' '{base}/api/v1/course-progress?limit=5'
  curl -s -H 'Authorization: Bearer {token}' '{base}/api/v1/course-progress?format=csv&limit=5'

Power BI (Get Data → Web → Advanced):
  URL parts:      {base}/api/v1/course-progress?limit=1000
  HTTP headers:   Authorization = Bearer {token}
  (or Web API credential with key name api_key; the Moodle endpoint works with Web.Contents and a
   POST body: Content=Text.ToBinary("wstoken=…&wsfunction=local_alx_report_api_get_course_progress&moodlewsrestformat=json"))
""")
        sys.stdout.flush()

    demo_config = config.replace(database_url=url)
    try:
        return serve(demo_config, config.api_host, port, config.api_threads, announce)
    except OSError as exc:
        raise UserError(f"cannot listen on {config.api_host}:{port}: {exc.strerror or exc}. "
                        "Choose another port with --port or ALX_API_PORT (0 picks a free one).") from None
