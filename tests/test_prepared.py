"""``models.db.Prepared``: hot-path queries compiled once per database and table prefix."""

from __future__ import annotations

import pytest

from models.db import Prepared, open_database, set_table_prefix, table_prefix
from models.plugin import Setting
from models.schema import install

COMPANY = 7_000_000_001


def by_company(companyid):
    return Setting.select(Setting.setting_name, Setting.setting_value).where(Setting.companyid == companyid)


def test_prepared_rows_equal_the_peewee_query(db_url):
    db = open_database(db_url, "mdl_")
    with db.connection_context():
        install(db)
        Setting.insert_many(
            [
                {
                    "companyid": c,
                    "setting_name": f"field_{n}",
                    "setting_value": v,
                    "timecreated": 1,
                    "timemodified": 1,
                }
                for c, n, v in ((1, "email", 0), (1, "username", 1), (2, "email", 1))
            ]
        ).execute()
        prepared = Prepared(by_company, COMPANY)
        for company in (1, 2, 3):
            assert sorted(prepared.tuples(company)) == sorted(by_company(company).tuples())
        assert sorted(d["setting_name"] for d in prepared.dicts(1)) == ["field_email", "field_username"]
    db.close()


def test_a_new_prefix_compiles_again(db_url):
    db = open_database(db_url, "mdl_")
    prepared = Prepared(by_company, COMPANY)
    before = table_prefix()
    try:
        assert "mdl_local_alx_api_settings" in prepared._sql()[1]
        set_table_prefix("alt_")
        assert "alt_local_alx_api_settings" in prepared._sql()[1]
    finally:
        set_table_prefix(before)
    db.close()


def test_samples_must_be_used_once_in_order(db_url):
    open_database(db_url, "mdl_")
    twice = Prepared(lambda c: Setting.select().where((Setting.companyid == c) | (Setting.id == c)), COMPANY)
    with pytest.raises(RuntimeError, match="once each, in order"):
        twice.tuples(1)
    swapped = Prepared(
        lambda a, b: Setting.select().where((Setting.companyid == b) & (Setting.setting_name == a)),
        "x",
        COMPANY,
    )
    with pytest.raises(RuntimeError, match="once each, in order"):
        swapped.tuples("x", 1)
