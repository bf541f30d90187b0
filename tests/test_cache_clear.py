""" "Clear cache" (console Control Center): the cache table is emptied, every API process stops
serving what it cached before, and the operator is in the audit log."""

from __future__ import annotations

import json

from alxapi.api.cache import clear_all
from models.plugin import ApiLog, Audit, Cache, Reporting

from .support.api_helpers import build_site


def _v1(site, client=None, limit=3):
    result = (client or site.client).simulate_get(
        "/api/v1/course-progress",
        params={"limit": limit},
        headers={"Authorization": f"Bearer {site.tokens[1]}"},
    )
    assert result.status_code == 200, result.text
    return result.json["data"]


def _moodle_first_names(site, client=None):
    return [r["firstname"] for r in site.page(limit=3, client=client)]


def _last_hit() -> int:
    return ApiLog.select(ApiLog.cache_hit).order_by(ApiLog.id.desc()).first().cache_hit


def test_clear_cache_stops_cached_responses_in_every_api_process(db_url):
    site = build_site(db_url)
    other = site.second_app()  # another API process: its own in-process cache
    first = _v1(site)
    assert _v1(site) == first and _last_hit() == 1
    assert _v1(site, other) == first
    names = _moodle_first_names(site)
    assert _moodle_first_names(site) == names and _last_hit() == 1
    # A change the data version cannot see (written behind the sync's back): only clearing shows it.
    Reporting.update(firstname="Renamed").where(
        (Reporting.companyid == 1) & (Reporting.userid == first[0]["userid"])
    ).execute()
    Cache.insert(
        cache_key="k", companyid=1, cache_data="{}", timecreated=site.now, expires_at=site.now + 60
    ).execute()
    assert _v1(site)[0]["firstname"] == first[0]["firstname"] and _last_hit() == 1  # stale, from the cache

    cleared = clear_all("ops-alice", site.now)

    assert cleared.table_entries == 1 and cleared.epoch == 1 and Cache.select().count() == 0
    for client in (site.client, other):
        assert _v1(site, client)[0]["firstname"] == "Renamed" and _last_hit() == 0
    assert _moodle_first_names(site)[0] == "Renamed" and _last_hit() == 0
    assert _v1(site)[0]["firstname"] == "Renamed" and _last_hit() == 1  # cached again, under the new epoch
    audit = Audit.select().where(Audit.action == "cache.clear").get()
    assert (audit.actor, audit.target, audit.timecreated) == ("ops-alice", "cache", site.now)
    assert json.loads(audit.details) == {"epoch": 1, "table_entries": 1}
    assert clear_all("ops-bob", site.now).epoch == 2
