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


def _counts(db, backend):
    """(statements prepared, statements executed) on this connection so far (MariaDB), or the names
    of the statements it holds (PostgreSQL)."""
    if backend == "postgresql":
        return sorted(r[0] for r in db.execute_sql("SELECT name FROM pg_prepared_statements").fetchall())
    rows = dict(
        db.execute_sql("SHOW SESSION STATUS WHERE Variable_name IN ('Com_prepare_sql', 'Com_execute_sql')")
    )
    return int(rows["Com_prepare_sql"]), int(rows["Com_execute_sql"])


def test_the_server_parses_it_once_per_connection(db_server, db_backend, mysql_driver, db_url):
    """On PostgreSQL and MariaDB the query is a server-side prepared statement: prepared once per
    connection, prepared again when the connection lost it (DEALLOCATE, a pooler, a reconnect) or
    already has it under our name; inside a transaction it is sent as text."""
    db = _settings_site(db_url)
    prepared = Prepared(by_company, COMPANY)
    expected = [("field_email", 1)]
    sql = prepared._sql()[1]
    server = db_module._server_prepares(db)
    assert server is not None
    name = server.statement(sql)[0]
    forget = f"DEALLOCATE {name}" if db_backend == "postgresql" else f"DEALLOCATE PREPARE {name}"

    def prepares_and_executes(action):  # MariaDB: what ``action`` made the server do
        before = _counts(db, db_backend)
        action()
        after = _counts(db, db_backend)
        return after[0] - before[0], after[1] - before[1]

    try:
        assert prepared.tuples(1) == expected
        if db_backend == "postgresql":
            assert prepared.tuples(1) == expected and prepared.tuples(2) == []
            assert _counts(db, db_backend) == [name]
        else:
            assert prepares_and_executes(lambda: [prepared.tuples(c) for c in (1, 1, 2)]) == (0, 3)
        db.execute_sql(forget)  # the connection forgot it: prepared again, same rows
        assert prepared.tuples(1) == expected
        db_module._prepared.clear()  # we forgot it, the connection did not ("already exists")
        assert prepared.tuples(1) == expected
        db.close_all()
        db.connect()  # a new connection prepares it for itself
        if db_backend == "postgresql":
            assert prepared.tuples(1) == expected
            assert _counts(db, db_backend) == [name]
        else:
            assert prepares_and_executes(lambda: prepared.tuples(1)) == (1, 1)
        with db.atomic():  # inside a transaction it is sent as text: a failed PREPARE would abort it
            if db_backend == "postgresql":
                assert prepared.tuples(1) == expected
            else:
                assert prepares_and_executes(lambda: prepared.tuples(1)) == (0, 0)
        assert prepared.tuples(1) == expected
        assert sql not in db_module._unpreparable
    finally:
        db.close_all()
