"""A small IOMAD site with synced rows, tokens and the API app, for API tests on every backend."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

import falcon.testing

from alxapi.access import tokens
from alxapi.config import load_config
from alxapi.http.app import create_app
from models.db import open_database
from models.schema import install

from . import site_cache
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
    config: object = None  # the app's Config

    @property
    def now(self) -> int:
        return self.clock["now"]

    def advance(self, seconds: int) -> int:
        self.clock["now"] += seconds
        self.b.now = self.clock["now"]
        return self.clock["now"]

    @property
    def db(self):
        return self.b.db

    def post(self, token: str | None = None, company: int = 1, fmt: str = "json", **params):
        body = {"wsfunction": FUNCTION, "moodlewsrestformat": fmt, **params}
        if token is not False:
            body["wstoken"] = token if token is not None else self.tokens[company]
        return self.client.simulate_post(
            ENDPOINT,
            params=None,
            body=_form(body),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    def sync(self, **options):
        self.b.now = self.clock["now"]
        return run_sync(self.b, **options)

    def call(
        self,
        *,
        method: str = "POST",
        query: dict | str | None = None,
        body: dict | str | bytes | None = None,
        content_type: str | None = "application/x-www-form-urlencoded",
        remote_addr: str = "127.0.0.1",
        user_agent: str | None = None,
        client: falcon.testing.TestClient | None = None,
    ):
        """One raw request to the Moodle endpoint: query string and body exactly as given."""
        headers = {}
        if content_type is not None and body is not None:
            headers["Content-Type"] = content_type
        if user_agent is not None:
            headers["User-Agent"] = user_agent
        qs = query if isinstance(query, str) or query is None else _form(query)
        data = _form(body) if isinstance(body, dict) else body
        return (client or self.client).simulate_request(
            method, ENDPOINT, query_string=qs, body=data, headers=headers, remote_addr=remote_addr
        )

    def page(
        self,
        token: str | None = None,
        *,
        company: int = 1,
        limit: int | None = None,
        offset: int | None = None,
        client=None,
        **params,
    ) -> list[dict]:
        """One JSON page of the Moodle endpoint; fails the test on anything but a bare array."""
        body = {
            "wsfunction": FUNCTION,
            "moodlewsrestformat": "json",
            "limit": limit,
            "offset": offset,
            "wstoken": token if token is not None else self.tokens[company],
            **params,
        }
        result = self.call(body=body, client=client)
        assert result.status_code == 200, result.text
        data = json.loads(result.text)
        assert isinstance(data, list), data
        return data

    def read_pass(
        self,
        token: str | None = None,
        *,
        company: int = 1,
        limit: int = 100,
        client=None,
        between: Callable[[int], None] | None = None,
    ) -> list[list[dict]]:
        """Page from offset 0 until a short page (one pass); ``between(i)`` runs after page i if not last."""
        pages, offset = [], 0
        while True:
            rows = self.page(token, company=company, limit=limit, offset=offset, client=client)
            pages.append(rows)
            if len(rows) < limit:
                return pages
            if between is not None:
                between(len(pages) - 1)
            offset += len(rows)

    def second_app(self) -> falcon.testing.TestClient:
        """Another API process on the same database (own cache, own memory): a client for it."""
        app = create_app(self.config, db=self.db, clock_fn=lambda: self.clock["now"])
        return falcon.testing.TestClient(app)


def _build_moodle(db_url: str, companies, users_per_company: int, courses, setup) -> MoodleBuilder:
    """The site: Moodle's schema and rows, ALX installed, one sync run."""
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
    if setup is not None:
        setup(b)
    run_sync(b)
    return b


def _form(params: dict) -> str:
    return urlencode({k: v for k, v in params.items() if v is not None})


def build_site(
    db_url: str,
    *,
    companies=(1, 2),
    users_per_company=5,
    courses=(10, 11),
    setup: Callable[[MoodleBuilder], None] | None = None,
    **config,
) -> Site:
    """``setup(builder)`` adds Moodle data before the first sync; ``config`` overrides settings.
    Without ``setup`` the synced site is built once per test process and copied (site_cache)."""
    shape = (tuple(companies), users_per_company, tuple(courses))
    if setup is None:

        def build(url: str) -> int:
            built = _build_moodle(url, *shape, None)
            built.db.close()
            return built.next_id()  # where a copy's builder goes on

        next_id = site_cache.fill(db_url, ("api", *shape), build)
        db = open_database(db_url, "mdl_")
        db.connect(reuse_if_open=True)
        b = MoodleBuilder.attach(db, next_id, now=NOW)
    else:
        b = _build_moodle(db_url, *shape, setup)
        db = b.db
    cfg = load_config(env={}, search_paths=[]).replace(
        **{"database_url": db_url, "timezone": "UTC", **config}
    )
    clock = {"now": NOW}
    app = create_app(cfg, db=db, clock_fn=lambda: clock["now"])
    site = Site(b, falcon.testing.TestClient(app), app, clock=clock, config=cfg)
    for company in companies:
        site.tokens[company], _ = tokens.create_token(company, name=f"test {company}", actor="tests", now=NOW)
    return site
