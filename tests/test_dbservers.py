"""The test database infrastructure itself: real servers, utf8mb4, loopback only, restarts keep data."""

from __future__ import annotations

import socket

import peewee
import pytest

from .support.dbservers import peewee_database
from .support.procnet import LISTEN, tcp_sockets

# 4-byte UTF-8 (emoji, musical symbol, CJK extension B) next to 2- and 3-byte characters.
TEXT = "José 😀 𝄞 𠜎 中文 – done ✅"


def _table(db: peewee.Database, name: str = "alx_probe") -> type[peewee.Model]:
    class Probe(peewee.Model):
        text = peewee.CharField(max_length=100)

        class Meta:
            database = db
            table_name = name

    return Probe


# Note: connection_context(), not `with db:` (which also opens a transaction that MariaDB's DDL would
# commit implicitly under our feet).


def test_fresh_database_is_empty_and_writable(db_url):
    db = peewee_database(db_url)
    with db.connection_context():
        assert db.get_tables() == []
        Probe = _table(db)
        db.create_tables([Probe])
        Probe.create(text="x")
        assert Probe.select().count() == 1


def test_four_byte_utf8_round_trip(db_url, db_backend):
    _write_rows(db_url, [TEXT])
    db = peewee_database(db_url)  # read back on a new connection, not from anything cached
    with db.connection_context():
        Probe = _table(db)
        assert [row.text for row in Probe.select()] == [TEXT]
        assert Probe.select().where(Probe.text == TEXT).count() == 1
        if db_backend == "mariadb":
            # Moodle's table layout: utf8mb4 / utf8mb4_unicode_ci by default on the server.
            collation = db.execute_sql(
                "SELECT table_collation FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = %s",
                ("alx_probe",),
            ).fetchone()[0]
            assert collation == "utf8mb4_unicode_ci"
        if db_backend == "postgresql":
            assert db.execute_sql("SHOW server_encoding").fetchone()[0] == "UTF8"


def test_databases_are_isolated(db_server):
    url_a = db_server.create_database("alx_iso_a")
    url_b = db_server.create_database("alx_iso_b")
    try:
        _write_rows(url_a, ["only in a"])
        db = peewee_database(url_b)
        with db.connection_context():
            assert db.get_tables() == []
    finally:
        db_server.drop_database("alx_iso_a")
        db_server.drop_database("alx_iso_b")


def test_shared_test_database_url(db_server, db_backend):
    scheme = {"mariadb": "mysql", "postgresql": "postgresql"}[db_backend]
    assert db_server.url.startswith(f"{scheme}://alx:")
    assert db_server.url.endswith(f"@127.0.0.1:{db_server.port}/alx_test")
    db = peewee_database(db_server.url)
    with db.connection_context():
        assert db.execute_sql("SELECT 1").fetchone()[0] == 1


def _tcp_listeners(port: int) -> list[str]:
    """Local addresses of the LISTEN sockets on ``port``."""
    return [address for address, _inode in tcp_sockets(port, LISTEN)]


def _non_loopback_address() -> str | None:
    """This machine's primary non-loopback IPv4 address, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: only selects the outgoing interface
        except OSError:
            return None
        address = sock.getsockname()[0]
    return None if address.startswith("127.") else address


def test_server_listens_on_loopback_only(db_server, db_backend):
    assert _tcp_listeners(db_server.port) == ["127.0.0.1"]
    db = peewee_database(db_server.url)
    with db.connection_context():
        if db_backend == "mariadb":
            assert db.execute_sql("SELECT @@bind_address").fetchone()[0] == "127.0.0.1"
        else:
            assert db.execute_sql("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
    address = _non_loopback_address()
    if address is not None:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, db_server.port), timeout=5).close()


def _write_rows(url: str, texts: list[str]) -> None:
    db = peewee_database(url)
    with db.connection_context():
        Probe = _table(db)
        db.create_tables([Probe])
        with db.atomic():
            for text in texts:
                Probe.create(text=text)


def _read_rows(url: str) -> list[str]:
    db = peewee_database(url)
    with db.connection_context():
        Probe = _table(db)
        return [row.text for row in Probe.select().order_by(Probe.id)]


def test_stop_and_start_keep_data(db_server, db_url):
    _write_rows(db_url, [TEXT, "second"])
    port = db_server.port
    db_server.stop(keep_data=True)
    assert not db_server.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    db_server.start()
    assert db_server.port == port  # URLs handed out before the restart stay valid
    assert _read_rows(db_url) == [TEXT, "second"]


def test_crash_and_restart_keep_committed_data(db_server, db_url):
    _write_rows(db_url, ["committed"])
    db_server.stop_hard()  # SIGKILL: no shutdown, crash recovery on start
    assert not db_server.running
    db_server.start()
    assert _read_rows(db_url) == ["committed"]
