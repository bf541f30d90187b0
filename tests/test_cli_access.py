"""`alx token …` and `alx company …` end to end (SPEC §7): stdout carries data, stderr messages,
exit 0/1/2, audited changes. Most runs call ``alxapi.cli.main`` in-process (fast); one runs the real
console script to prove `token create` prints the token and nothing else.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

import pytest

from alxapi import audit
from alxapi.access.tokens import authenticate
from alxapi.cli import main
from models.db import database, open_database
from models.plugin import ApiToken, Audit, Setting
from models.schema import install

from .support.cli_helpers import NOW, Alx
from .support.moodle_builder import MoodleBuilder


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


def build(db_url: str, *, installed: bool = True) -> None:
    db = open_database(db_url, "mdl_")
    with db.connection_context():
        if installed:
            install(db)
        b = MoodleBuilder(db, now=NOW)
        b.company(1, name="Acme")
        b.company(2, name="Globex")
        b.course(10)
        b.course(11)
        b.company_course(1, 10)
        b.company_course(1, 11)
        b.user(100)
        b.member(1, 100)
    db.close()


def _runner(db_url: str | None, tmp_path, monkeypatch, capsys):
    """Run `alx [--db <url>] ARGS` in-process in an isolated environment; returns a Run."""
    for name in [n for n in os.environ if n.startswith("ALX_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ALX_NOW", str(NOW))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    monkeypatch.setenv("SUDO_USER", "alice")
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> Run:
        capsys.readouterr()
        try:
            code = main([*(["--db", db_url] if db_url else []), *args])
        except SystemExit as exc:  # argparse: usage errors and --help
            code = exc.code
        finally:
            out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


@pytest.fixture
def alx(db_url, tmp_path, monkeypatch, capsys):
    yield _runner(db_url, tmp_path, monkeypatch, capsys)
    if not database.obj.is_closed():
        database.obj.close()


@pytest.fixture
def nodb(tmp_path, monkeypatch, capsys):
    """`alx` without a database: usage errors and help."""
    return _runner(None, tmp_path, monkeypatch, capsys)


@pytest.fixture
def site(alx, db_url):
    build(db_url)
    return alx


def test_token_create_plain_prints_only_the_token_and_it_works(site):
    run = site("token", "create", "--company", "1", "--name", "Power BI")
    assert run.code == 0, run
    assert re.fullmatch(r"[0-9a-f]{32}\n", run.stdout), run
    assert "shown only" in run.stderr and "company 1 (Acme)" in run.stderr, run
    token = run.stdout.strip()
    principal = authenticate(token, "192.0.2.1", NOW)
    assert (principal.companyid, principal.name, principal.kind) == (1, "Power BI", "managed")
    entry = Audit.get(Audit.action == "token.create")
    assert entry.actor == "alice" and token not in entry.details


def test_token_create_json_and_options(site):
    run = site(
        "token",
        "create",
        "--company",
        "2",
        "--user",
        "100",
        "--expires-days",
        "30",
        "--ip",
        "10.0.0.0/8, 192.0.2.7",
        "--json",
    )
    assert run.code == 0, run
    data = run.json()
    assert set(data) >= {"id", "token", "companyid", "company", "expires"}
    assert (data["companyid"], data["company"], data["expires"], data["userid"]) == (
        2,
        "Globex",
        NOW + 30 * 86_400,
        100,
    )
    assert data["iprestriction"] == "10.0.0.0/8,192.0.2.7"
    assert authenticate(data["token"], "10.1.1.1", NOW).token_ref == f"m:{data['id']}"
    assert "shown only" in run.stderr


def test_token_create_errors(site):
    for args, words in [
        (["--company", "99"], ["no company with id 99"]),
        (["--company", "1", "--ip", "10.0.0/8"], ["not an IP address or CIDR", "10.0.0/8"]),
        (["--company", "1", "--expires-days", "0"], ["--expires-days"]),
        (["--company", "1", "--user", "555"], ["no Moodle user with id 555"]),
    ]:
        run = site("token", "create", *args)
        assert run.code == 1 and run.stdout == "", run
        for word in words:
            assert word in run.stderr, run
    assert ApiToken.select().count() == 0


def test_token_list_and_revoke(site):
    first = site("token", "create", "--company", "1", "--name", "keep").stdout.strip()
    second = site("token", "create", "--company", "2", "--name", "drop", "--json").json()
    listed = site("token", "list", "--json")
    assert listed.code == 0
    assert [(t["name"], t["status"], t["company"]) for t in listed.json()] == [
        ("keep", "active", "Acme"),
        ("drop", "active", "Globex"),
    ]
    revoke = site("token", "revoke", str(second["id"]))
    assert revoke.code == 0 and "revoked" in revoke.stderr and revoke.stdout == "", revoke
    again = site("token", "revoke", str(second["id"]))
    assert again.code == 0 and "already revoked" in again.stderr, again
    unknown = site("token", "revoke", "999")
    assert unknown.code == 1 and "no managed token with id 999" in unknown.stderr, unknown
    plain = site("token", "list")
    assert plain.code == 0
    lines = plain.stdout.splitlines()
    assert lines[0].split()[:3] == ["id", "status", "company"]
    assert re.search(r"active\s+1 Acme", lines[1]) and re.search(r"revoked\s+2 Globex", lines[2]), plain
    everything = listed.stdout + plain.stdout
    assert first not in everything and second["token"] not in everything
    assert [e.actor for e in Audit.select().where(Audit.action == "token.revoke")] == ["alice"]


def test_token_list_empty(site):
    run = site("token", "list")
    assert run.code == 0 and "alx token create" in run.stderr
    assert site("token", "list", "--json").json() == []


def test_company_show_and_set(site):
    shown = site("company", "show", "1", "--json")
    assert shown.code == 0, shown
    data = shown.json()
    assert (data["companyid"], data["company"], data["enabled_courses"], data["course_rule"]) == (
        1,
        "Acme",
        [10, 11],
        "company_course",
    )
    assert data["settings"]["rate_limit"] == {"value": None, "default": True, "effective": 100}
    assert data["settings"]["field_email"] == {"value": 1, "default": True, "effective": 1}
    assert len([k for k in data["settings"] if k.startswith("field_")]) == 13

    changed = site("company", "set", "1", "rate_limit=500", "field_email=0", "course_11=1")
    assert changed.code == 0 and changed.stdout == "", changed
    assert "rate_limit default -> 500" in changed.stderr and "field_email default -> 0" in changed.stderr
    data = site("company", "show", "1", "--json").json()
    assert data["settings"]["rate_limit"] == {"value": 500, "default": False, "effective": 500}
    assert data["settings"]["course_11"]["value"] == 1
    assert (data["enabled_courses"], data["course_rule"]) == ([11], "settings")
    assert {(e.actor, e.target) for e in Audit.select()} == {("alice", "company:1")}

    plain = site("company", "show", "1")
    assert plain.code == 0
    assert plain.stdout.startswith("company 1: Acme")
    assert re.search(r"^rate_limit\s+500\s+set$", plain.stdout, re.M), plain
    assert re.search(r"^max_records\s+1000 \(global\)\s+default$", plain.stdout, re.M), plain
    assert "enabled courses: 11" in plain.stdout

    back = site("company", "set", "1", "rate_limit=default")
    assert back.code == 0 and "rate_limit 500 -> default" in back.stderr
    same = site("company", "set", "1", "field_email=0")
    assert same.code == 0 and "nothing changed" in same.stderr


def test_company_set_refuses_and_saves_nothing(site):
    for args, words in [
        (["1", "rate_limit=-5"], ["rate_limit=-5", "0..1000000", "Valid keys"]),
        (["1", "sync_window_hours=0", "field_email=0"], ["sync_window_hours=0", "nothing saved"]),
        (["1", "max_records=many"], ["not a whole number"]),
        (["1", "colour=blue"], ["colour: unknown key"]),
        (["1", "rate_limit"], ["not KEY=VALUE"]),
        (["99", "rate_limit=5"], ["no company with id 99"]),
    ]:
        run = site("company", "set", *args)
        assert run.code == 1 and run.stdout == "", run
        for word in words:
            assert word in run.stderr, run
        assert len(run.stderr.strip().splitlines()) <= 4
    assert Setting.select().count() == 0 and Audit.select().count() == 0
    unknown = site("company", "show", "7")
    assert unknown.code == 1 and "no company with id 7" in unknown.stderr and unknown.stdout == ""


@pytest.mark.parametrize(
    "args", [["token"], ["token", "create"], ["company", "set", "1"], ["token", "revoke", "x"], ["company"]]
)
def test_usage_errors(nodb, args):
    run = nodb(*args)
    assert run.code == 2 and "usage: alx" in run.stderr, run


def test_refuses_without_install(alx, db_url):
    build(db_url, installed=False)
    run = alx("token", "list")
    assert run.code == 1 and "alx install" in run.stderr, run


def test_help_texts(nodb):
    for args, words in [
        (["token", "--help"], ["create", "list", "revoke", "SHA-256"]),
        (
            ["token", "create", "--help"],
            ["--company", "--user", "--name", "--expires-days", "--ip", "--json", "once"],
        ),
        (["token", "list", "--help"], ["--json"]),
        (["token", "revoke", "--help"], ["ID"]),
        (["company", "show", "--help"], ["--json", "default"]),
        (["company", "set", "--help"], ["KEY=VALUE", "rate_limit", "course_<id>", "default", "sync_mode"]),
    ]:
        run = nodb(*args)
        assert run.code == 0 and run.stdout.startswith("usage: alx"), run
        for word in words:
            assert word in run.stdout, (args, word)


def test_real_console_script_prints_only_the_token(tmp_path, db_url):
    build(db_url)
    alx = Alx(tmp_path / "work", db_url, SUDO_USER="ops")
    result = alx.ok("token", "create", "--company", "1")
    assert re.fullmatch(r"[0-9a-f]{32}\n", result.stdout), result
    assert "shown only" in result.stderr
    db = open_database(db_url, "mdl_")
    with db.connection_context():
        assert authenticate(result.stdout.strip(), "127.0.0.1", NOW).companyid == 1
        assert Audit.get(Audit.action == "token.create").actor == "ops"
    db.close()


def test_actor_is_the_login_name_without_sudo(site, monkeypatch):
    monkeypatch.delenv("SUDO_USER")
    assert site("company", "set", "2", "sync_mode=1").code == 0
    assert Audit.get().actor == audit.current_actor() != ""
