"""MariaDB/MySQL drivers: mysqlclient (C) when installed, else PyMySQL; ``mysql+<driver>://`` chooses.

The rest of the suite runs on the default driver; the connection-handling tests (tests/test_db_pool.py,
tests/test_prepared.py, lost connections and restarts in tests/test_db_faults.py) run on both."""

from __future__ import annotations

import importlib.util

import peewee
import pytest

from alxapi.config.checks import check_database_url
from models.db import DatabaseURLError, make_database

MODULES = {"mysqlclient": "MySQLdb", "pymysql": "pymysql"}


@pytest.mark.parametrize(
    ("url", "module", "pooled"),
    [
        ("mysql+pymysql://u:p@db.example.com/moodle", "pymysql", False),
        ("mysql+mysqlclient://u:p@db.example.com/moodle", "MySQLdb", False),
        ("mysql+pool+pymysql://u:p@db.example.com/moodle", "pymysql", True),
        ("mariadb+mysqlclient+pool://u:p@db.example.com/moodle", "MySQLdb", True),
    ],
)
def test_the_url_names_the_driver(url, module, pooled):
    db = make_database(url)
    assert db.alx_driver.__name__ == module
    assert hasattr(db, "_connections") is pooled  # playhouse's pools keep their connections there
    assert check_database_url(url) is None


def test_without_a_named_driver_mysqlclient_is_preferred():
    expected = "MySQLdb" if importlib.util.find_spec("MySQLdb") else "pymysql"
    assert make_database("mysql://u:p@db.example.com/moodle").alx_driver.__name__ == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql+psycopg://u:p@h/moodle", "unknown database URL modifier \\+psycopg"),
        ("postgresql+pymysql://u:p@h/moodle", "only for mysql:// URLs"),
        ("mysql+pymysql+mysqlclient://u:p@h/moodle", "one driver"),
    ],
)
def test_a_wrong_driver_is_a_clear_error(url, message):
    with pytest.raises(DatabaseURLError, match=message):
        make_database(url)
    if "modifier" in message:
        assert "+psycopg" in (check_database_url(url) or "")


@pytest.fixture(params=list(MODULES))
def mariadb(request, mariadb_server):
    """A fresh MariaDB database on one driver, and its server."""
    if importlib.util.find_spec(MODULES[request.param]) is None:
        pytest.fail(f"{request.param} is not installed: the test extra installs both drivers")
    name = f"alx_driver_{request.param}"
    url = mariadb_server.create_database(name).replace("mysql://", f"mysql+{request.param}://")
    db = make_database(url)
    yield db, mariadb_server
    db.close()
    mariadb_server.drop_database(name)


def test_one_statement_per_query(mariadb):
    """mysqlclient would run several statements sent as one string; saved SQL reports must not."""
    db, _ = mariadb
    with pytest.raises(peewee.ProgrammingError):
        db.execute_sql("SELECT 1; SELECT 2")
    assert db.execute_sql("SELECT 1").fetchone()[0] == 1  # the connection is still good


def test_values_come_back_as_the_same_python_types(mariadb):
    db, _ = mariadb
    row = db.execute_sql(
        "SELECT CAST(%s AS SIGNED), 'Zoë ☃', NULL, CAST(1.5 AS DECIMAL(10, 2)), SUM(9007199254740993), "
        "CAST(%s AS BINARY)",
        [2**62, "x"],
    ).fetchone()
    assert row[0] == 2**62 and row[1] == "Zoë ☃" and row[2] is None
    assert str(row[3]) == "1.50" and int(row[4]) == 9007199254740993 and bytes(row[5]) == b"x"


@pytest.mark.parametrize(
    ("query", "ssl", "mode"),
    [
        ("", None, None),
        ("?ssl_ca=/etc/ssl/ca.pem&ssl_verify_identity=true", {"ca": "/etc/ssl/ca.pem"}, "VERIFY_IDENTITY"),
        ("?ssl_ca=/etc/ssl/ca.pem&ssl_verify_cert=true", {"ca": "/etc/ssl/ca.pem"}, "VERIFY_CA"),
        ("?ssl_cert=/c.pem&ssl_key=/k.pem", {"cert": "/c.pem", "key": "/k.pem"}, "REQUIRED"),
        ("?ssl_disabled=false", None, "REQUIRED"),
        ("?ssl_disabled=true", None, "DISABLED"),
        ("?ssl_mode=VERIFY_CA&ssl_ca=/ca.pem", {"ca": "/ca.pem"}, "VERIFY_CA"),
    ],
)
def test_pymysql_tls_options_mean_the_same_to_mysqlclient(query, ssl, mode):
    params = make_database(f"mysql+mysqlclient://u:p@db.example.com/moodle{query}").connect_params
    assert params.get("ssl") == ssl and params.get("ssl_mode") == mode
    assert not any(k.startswith("ssl_") and k != "ssl_mode" for k in params)
