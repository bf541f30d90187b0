"""The API's one-row read of a company's state (``alxapi.api.feed``): settings and IOMAD courses as
JSON aggregates, data version and cache epoch. Whatever is stored, it must mean what the plain
settings read (``alxapi.access.settings.load``) means, on every backend."""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alxapi.access import settings as company_settings
from alxapi.access import tokens
from alxapi.api import feed
from models.iomad import Company
from models.plugin import Setting, State

COMPANY, OTHER = 3, 4
NAMES = st.one_of(
    st.sampled_from([f"field_{f}" for f in company_settings.FIELDS] + list(company_settings.SCALARS)),
    st.integers(1, 10**12).map(lambda c: f"course_{c}"),
    # Written by something else (the PHP plugin, a hand edit): quotes, commas, braces, non-ASCII. No
    # upper case, accents or spaces: MariaDB's collation would call two such names the same one.
    st.text(st.sampled_from("abcxyz019_\"\\,:={}[]'☃中"), min_size=1, max_size=30),
)


def _plain(s: company_settings.CompanySettings) -> dict:
    return {k: v for k, v in dataclasses.asdict(s).items() if k not in ("data_version", "cache_epoch")}


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    stored=st.dictionaries(NAMES, st.integers(-(10**12), 10**12), max_size=12),
    courses=st.sets(st.integers(1, 10**9), max_size=40),
    epoch=st.one_of(st.none(), st.integers(0, 10**9)),
)
def test_the_state_means_what_the_stored_settings_mean(moodle, stored, courses, epoch):
    if not Company.select().where(Company.id == COMPANY).exists():
        moodle.company(COMPANY)
        moodle.company(OTHER)
    Setting.delete().execute()
    moodle.execute("DELETE FROM {t:company_course}")  # Moodle's table: read-only to ALX
    State.delete().where(State.name == feed.CACHE_EPOCH).execute()
    rows = [{"companyid": COMPANY, "setting_name": n, "setting_value": v} for n, v in stored.items()]
    rows.append({"companyid": OTHER, "setting_name": "field_email", "setting_value": 0})  # not ours
    Setting.insert_many(rows).execute()
    for course in courses:
        moodle.company_course(COMPANY, course)
    moodle.company_course(OTHER, 999_999_999_999)
    if epoch is not None:
        State.insert(name=feed.CACHE_EPOCH, value_int=epoch).execute()

    expected = _plain(company_settings.load(COMPANY))
    state = feed.company_state(COMPANY)
    assert _plain(state) == expected
    assert state.cache_epoch == (epoch or 0) and state.data_version == feed.data_version(COMPANY)

    token, _ = tokens.create_token(COMPANY, name="state", actor="test", now=1_700_000_000)
    row, read = feed.token_with_state(tokens.hash_token(token))
    assert row is not None and row.companyid == COMPANY
    assert _plain(feed.settings_of_state(COMPANY, read)) == expected
    assert feed.token_with_state(tokens.hash_token("0" * 32)) == (None, None)
    # One row however many settings and courses: a row per course was a cost per request.
    assert len(feed._TOKEN_AND_STATE.tuples(feed.CACHE_EPOCH, tokens.hash_token(token))) == 1
    assert len(feed._COMPANY_STATE.tuples(COMPANY, COMPANY, COMPANY, feed.CACHE_EPOCH)) == 1
