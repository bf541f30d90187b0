"""A small IOMAD site with synced rows, tokens and the API app, for API tests on every backend."""

from __future__ import annotations

from dataclasses import dataclass, field

import falcon.testing

from alxapi.access import tokens
from alxapi.config import load_config
from alxapi.http.app import create_app
from models.db import open_database
from models.schema import install

from .moodle_builder import MoodleBuilder
from .sync_helpers import run_sync

NOW = 1_700_000_000
ENDPOINT = "/webservice/rest/server.php"
FUNCTION = "local_alx_report_api_get_course_progress"


@dataclass
class Site:
    b: MoodleBuilder
    client: falcon.testing.TestClient
    app: object
    tokens: dict[int, str] = field(default_factory=dict)  # company -> managed token
    clock: dict = field(default_factory=lambda: {"now": NOW})

    @property
    def db(self):
        return self.b.db

    def post(self, token: str | None = None, company: int = 1, fmt: str = "json", **params):
        body = {"wsfunction": FUNCTION, "moodlewsrestformat": fmt, **params}
        if token is not False:
            body["wstoken"] = token if token is not None else self.tokens[company]
        return self.client.simulate_post(ENDPOINT, params=None, body=_form(body),
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})

    def sync(self, **options):
        self.b.now = self.clock["now"]
        return run_sync(self.b, **options)


def _form(params: dict) -> str:
    from urllib.parse import urlencode

    return urlencode({k: v for k, v in params.items() if v is not None})


def build_site(db_url: str, *, companies=(1, 2), users_per_company=5, courses=(10, 11), **config) -> Site:
    db = open_database(db_url, "mdl_")
    db.connect(reuse_if_open=True)
    install(db)
    b = MoodleBuilder(db, now=NOW)
    for course in courses:
        b.course(course, modules=2)
    uid = 100
    for company in companies:
        b.company(company)
        for course in courses:
            b.company_course(company, course)
        for _ in range(users_per_company):
            b.user(uid)
            b.member(company, uid)
            for course in courses:
                b.enrol(uid, course)
            uid += 1
    run_sync(b)
    cfg = load_config(env={}, search_paths=[]).replace(database_url=db_url, timezone="UTC", **config)
    clock = {"now": NOW}
    app = create_app(cfg, db=db, clock_fn=lambda: clock["now"])
    site = Site(b, falcon.testing.TestClient(app), app, clock=clock)
    for company in companies:
        site.tokens[company], _ = tokens.create_token(company, name=f"test {company}", actor="tests", now=NOW)
    return site
