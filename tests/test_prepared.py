"""``models.db.Prepared``: hot-path queries compiled once per database and table prefix."""

from __future__ import annotations

import pytest

from models import db as db_module
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


def _settings_site(db_url):
    db = open_database(db_url, "mdl_", pooled=True)  # as the API opens it
    db.connect()
    install(db)
    Setting.insert(
        companyid=1, setting_name="field_email", setting_value=1, timecreated=1, timemodified=1
    ).execute()
    return db


def test_postgresql_plans_it_once_per_connection(db_url, db_backend):
    """On PostgreSQL the query is a server-side prepared statement: prepared once per connection,
    prepared again when the connection lost it (DEALLOCATE, a pooler, a reconnect) or already has it
    under our name; elsewhere it is sent as text."""
    db = _settings_site(db_url)
    prepared = Prepared(by_company, COMPANY)
    expected = [("field_email", 1)]
    try:
        assert prepared.tuples(1) == expected
        assert prepared.tuples(1) == expected and prepared.tuples(2) == []
        names = (
            [r[0] for r in db.execute_sql(_PREPARED_NAMES).fetchall()] if db_backend == "postgresql" else []
        )
        if db_backend != "postgresql":
            return
        assert len(names) == 1 and names[0].startswith("alx_"), names
        db.execute_sql("DEALLOCATE ALL")  # the connection forgot it: prepared again, same rows
        assert prepared.tuples(1) == expected
        assert len(db.execute_sql(_PREPARED_NAMES).fetchall()) == 1
        db_module._pg_prepared.clear()  # we forgot it, the connection did not ("already exists")
        assert prepared.tuples(1) == expected
        db.close_all()
        db.connect()  # a new connection prepares it for itself
        assert prepared.tuples(1) == expected
        assert len(db.execute_sql(_PREPARED_NAMES).fetchall()) == 1
        with db.atomic():  # inside a transaction it is sent as text: a failed PREPARE would abort it
            assert prepared.tuples(1) == expected
    finally:
        db.close_all()


_PREPARED_NAMES = "SELECT name FROM pg_prepared_statements"
