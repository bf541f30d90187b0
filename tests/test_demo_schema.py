"""The real Moodle/IOMAD schema (alxapi.demo.moodle_schema) and the demo data generator, on SQLite.

The DDL for MariaDB and PostgreSQL is checked here as text (types, defaults, quoting); running it on
real servers is covered by the backend-parametrised tests that use the schema.
"""

from __future__ import annotations

import re

import peewee
import pytest
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

from alxapi.demo.generator import SIZES, DemoSize, generate
from alxapi.demo.moodle_schema import (
    IOMAD_TABLES,
    MOODLE_TABLES,
    TABLES,
    create_moodle_indexes,
    create_moodle_schema,
    create_table_sql,
    dialect_of,
    drop_moodle_schema,
    index_definitions,
    insert_rows,
)

NOW = 1_760_000_000  # fixed clock: generated data must not depend on the real time


def sqlite_db(path) -> peewee.SqliteDatabase:
    return peewee.SqliteDatabase(str(path))


def columns_of(db: peewee.Database, table: str) -> list[str]:
    return [row[1] for row in db.execute_sql(f'PRAGMA table_info("{table}")').fetchall()]


def indexes_of(db: peewee.Database, table: str) -> dict[str, tuple[bool, tuple[str, ...]]]:
    """{index name: (unique, columns)} as SQLite reports them."""
    result = {}
    for _seq, name, unique, origin, _partial in db.execute_sql(f'PRAGMA index_list("{table}")').fetchall():
        if origin == "c":  # created by CREATE INDEX (not the primary key)
            columns = tuple(row[2] for row in db.execute_sql(f'PRAGMA index_info("{name}")').fetchall())
            result[name] = (bool(unique), columns)
    return result


def table_dump(db: peewee.Database, prefix: str = "mdl_") -> dict[str, list[tuple]]:
    return {
        table: db.execute_sql(f'SELECT * FROM "{prefix}{table}" ORDER BY id').fetchall() for table in TABLES
    }


def scalar(db: peewee.Database, sql: str):
    return db.execute_sql(sql).fetchone()[0]


@pytest.fixture
def db(tmp_path):
    database = sqlite_db(tmp_path / "moodle.sqlite3")
    yield database
    database.close()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A generated "tiny" site, shared by the read-only checks below."""
    database = sqlite_db(tmp_path_factory.mktemp("tiny") / "tiny.sqlite3")
    counts = generate(database, size="tiny", seed=42, now=NOW)
    yield database, counts
    database.close()


# --------------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------------


def test_the_product_tables_are_all_defined():
    assert set(MOODLE_TABLES) | set(IOMAD_TABLES) == set(TABLES)
    assert len(TABLES) == 24


def test_schema_creates_every_table_with_every_column(db):
    create_moodle_schema(db)
    assert sorted(db.get_tables()) == sorted(f"mdl_{table}" for table in TABLES)
    for table, spec in TABLES.items():
        assert columns_of(db, f"mdl_{table}") == [column.name for column in spec.columns], table


def test_columns_match_moodle_445_and_iomad_445(db):
    create_moodle_schema(db)
    user = columns_of(db, "mdl_user")
    assert {"password", "lastnamephonetic", "firstnamephonetic", "moodlenetprofile", "trustbitmask"} <= set(
        user
    )
    assert len(user) == 48
    completion = columns_of(db, "mdl_course_modules_completion")
    assert completion == ["id", "coursemoduleid", "userid", "completionstate", "overrideby", "timemodified"]
    assert "viewed" not in completion  # moved to course_modules_viewed in Moodle 4.1
    assert "status" not in columns_of(db, "mdl_course_completions")
    assert "autoenrol" not in columns_of(db, "mdl_company_course")  # removed by IOMAD 2023042700
    assert "company" in columns_of(db, "mdl_department")  # not "companyid"
    assert len(columns_of(db, "mdl_company")) == 47
    assert len(columns_of(db, "mdl_enrol")) == 35


def test_indexes_include_the_dump_indexes_and_one_per_foreign_key(db):
    create_moodle_schema(db)
    completion = indexes_of(db, "mdl_course_modules_completion")
    assert completion["mdl_courmoducomp_usecou_uix"] == (True, ("userid", "coursemoduleid"))
    assert completion["mdl_courmoducomp_cou_ix"] == (False, ("coursemoduleid",))
    enrolments = indexes_of(db, "mdl_user_enrolments")
    assert enrolments["mdl_userenro_enruse_uix"] == (True, ("enrolid", "userid"))
    # user_enrolments has foreign keys enrolid, userid and modifierid: each gets an index
    assert {columns for _unique, columns in enrolments.values()} >= {
        ("enrolid",),
        ("userid",),
        ("modifierid",),
    }
    assert indexes_of(db, "mdl_user")["mdl_user_mneuse_uix"] == (True, ("mnethostid", "username"))
    assert indexes_of(db, "mdl_company_users")["mdl_compuser_comusedep_uix"] == (
        True,
        ("companyid", "userid", "departmentid"),
    )
    for table in TABLES:
        expected = {index.sql_name for index in index_definitions(table)}
        assert set(indexes_of(db, f"mdl_{table}")) == expected, table


def test_index_names_are_unique_and_short():
    names = [index.sql_name for table in TABLES for index in index_definitions(table)]
    assert len(names) == len(set(names))
    assert max(len(name) for name in names) <= 30
    long_prefix = [index.sql_name for table in TABLES for index in index_definitions(table, "moodle_prod_")]
    assert len(long_prefix) == len(set(long_prefix)) and max(map(len, long_prefix)) <= 30


def test_unique_indexes_are_enforced(db):
    create_moodle_schema(db)
    insert_rows(db, "course_modules_completion", [dict(coursemoduleid=1, userid=2, completionstate=1)])
    with pytest.raises(peewee.IntegrityError):
        insert_rows(db, "course_modules_completion", [dict(coursemoduleid=1, userid=2, completionstate=2)])


def test_tables_first_indexes_later(db):
    create_moodle_schema(db, indexes=False)
    assert indexes_of(db, "mdl_user") == {}
    create_moodle_indexes(db)
    assert "mdl_user_mneuse_uix" in indexes_of(db, "mdl_user")


def test_a_subset_of_tables_and_another_prefix(db):
    create_moodle_schema(db, "", ["user", "role"])
    assert sorted(db.get_tables()) == ["role", "user"]
    insert_rows(db, "user", [dict(username="u1")], prefix="")
    assert scalar(db, 'SELECT username FROM "user"') == "u1"
    with pytest.raises(ValueError, match="unknown Moodle/IOMAD table"):
        create_moodle_schema(db, "", ["user_lastaccess_typo"])


def test_drop_removes_the_tables(db):
    create_moodle_schema(db)
    drop_moodle_schema(db)
    assert db.get_tables() == []
    drop_moodle_schema(db)  # nothing left: still fine


# --------------------------------------------------------------------------------------------------
# DDL per dialect (checked as text: no server needed)
# --------------------------------------------------------------------------------------------------


def column_line(sql: str, column: str) -> str:
    return next(
        line.strip().rstrip(",") for line in sql.splitlines() if re.match(rf'\s*[`"]{column}[`"] ', line)
    )


def test_mysql_ddl_follows_moodles_generator():
    mysql = peewee.MySQLDatabase("moodle")
    sql = create_table_sql(mysql, "course")
    assert sql.startswith("CREATE TABLE `mdl_course` (")
    assert sql.endswith("ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci")
    assert column_line(sql, "id") == "`id` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY"
    assert column_line(sql, "visible") == "`visible` TINYINT NOT NULL DEFAULT 1"  # int(1)
    assert column_line(sql, "showgrades") == "`showgrades` TINYINT NOT NULL DEFAULT 1"  # int(2)
    assert column_line(sql, "legacyfiles") == "`legacyfiles` SMALLINT NOT NULL DEFAULT 0"  # int(4)
    assert column_line(sql, "newsitems") == "`newsitems` MEDIUMINT NOT NULL DEFAULT 1"  # int(5)
    assert column_line(sql, "category") == "`category` BIGINT NOT NULL DEFAULT 0"  # int(10)
    assert column_line(sql, "fullname") == "`fullname` VARCHAR(254) NOT NULL DEFAULT ''"
    assert column_line(sql, "summary") == "`summary` LONGTEXT"
    assert column_line(sql, "format") == "`format` VARCHAR(21) NOT NULL DEFAULT 'topics'"
    assert column_line(sql, "originalcourseid") == "`originalcourseid` BIGINT"
    enrol = create_table_sql(mysql, "enrol")
    assert column_line(enrol, "customdec1") == "`customdec1` DECIMAL(12,7)"
    assert column_line(enrol, "courseid") == "`courseid` BIGINT NOT NULL"  # NOT NULL int, no default
    assert (
        column_line(create_table_sql(mysql, "company_course"), "companyid") == "`companyid` BIGINT NOT NULL"
    )
    assert column_line(create_table_sql(mysql, "user_enrolments"), "timeend") == (
        "`timeend` BIGINT NOT NULL DEFAULT 2147483647"
    )


def test_postgresql_ddl_follows_moodles_generator():
    postgresql = peewee.PostgresqlDatabase("moodle")
    sql = create_table_sql(postgresql, "course")
    assert column_line(sql, "id") == '"id" BIGSERIAL PRIMARY KEY'
    assert column_line(sql, "visible") == '"visible" SMALLINT NOT NULL DEFAULT 1'
    assert column_line(sql, "legacyfiles") == '"legacyfiles" SMALLINT NOT NULL DEFAULT 0'  # int(4)
    assert column_line(sql, "newsitems") == '"newsitems" INTEGER NOT NULL DEFAULT 1'  # int(5)
    assert column_line(sql, "category") == '"category" BIGINT NOT NULL DEFAULT 0'
    assert column_line(sql, "summary") == '"summary" TEXT'
    assert column_line(create_table_sql(postgresql, "enrol"), "customdec2") == '"customdec2" NUMERIC(12,7)'
    assert column_line(create_table_sql(postgresql, "company"), "maincolor") == (
        "\"maincolor\" VARCHAR(20) DEFAULT 'null'"
    )  # IOMAD's default is the string 'null'
    # With an empty prefix the table is "user", a reserved word in PostgreSQL: it must be quoted.
    assert create_table_sql(postgresql, "user", prefix="").startswith('CREATE TABLE "user" (')


def test_sqlite_ddl():
    sql = create_table_sql(peewee.SqliteDatabase(":memory:"), "user")
    assert column_line(sql, "id") == '"id" INTEGER PRIMARY KEY'
    assert column_line(sql, "deleted") == '"deleted" INTEGER NOT NULL DEFAULT 0'
    assert column_line(sql, "username") == "\"username\" VARCHAR(100) NOT NULL DEFAULT ''"
    assert column_line(sql, "timezone") == "\"timezone\" VARCHAR(100) NOT NULL DEFAULT '99'"


def test_dialect_comes_from_the_database_class_including_pools():
    assert dialect_of(PooledSqliteDatabase(":memory:")) == "sqlite"
    assert dialect_of(PooledPostgresqlDatabase("moodle")) == "postgresql"
    assert dialect_of(peewee.MySQLDatabase("moodle")) == "mysql"
    proxy = peewee.DatabaseProxy()
    proxy.initialize(peewee.SqliteDatabase(":memory:"))
    assert dialect_of(proxy) == "sqlite"


# --------------------------------------------------------------------------------------------------
# insert_rows
# --------------------------------------------------------------------------------------------------


def test_insert_rows_fills_not_null_columns_the_caller_left_out(db):
    create_moodle_schema(db)
    insert_rows(
        db, "user", [dict(username="ann", firstname="Ann"), dict(username="bob", email="bob@example.com")]
    )
    rows = db.execute_sql(
        "SELECT id, auth, lang, timezone, firstname, email, deleted, lastnamephonetic "
        'FROM "mdl_user" ORDER BY id'
    ).fetchall()
    assert rows == [
        (1, "manual", "en", "99", "Ann", "", 0, None),
        (2, "manual", "en", "99", "", "bob@example.com", 0, None),
    ]
    insert_rows(db, "course_modules_completion", [dict(coursemoduleid=7, userid=1)])
    assert db.execute_sql(
        'SELECT completionstate, overrideby, timemodified FROM "mdl_course_modules_completion"'
    ).fetchone() == (0, None, 0)
    insert_rows(db, "role", [dict(shortname="student", sortorder=5)])  # description is NOT NULL text
    assert db.execute_sql('SELECT name, description, archetype FROM "mdl_role"').fetchone() == ("", "", "")
    insert_rows(db, "user_enrolments", [dict(enrolid=1, userid=1), dict(enrolid=2, userid=1, timeend=0)])
    assert [row[0] for row in db.execute_sql('SELECT timeend FROM "mdl_user_enrolments" ORDER BY id')] == [
        2147483647,
        0,
    ]  # the column default when a row leaves it out


def test_insert_rows_with_explicit_ids_then_without(db):
    create_moodle_schema(db)
    insert_rows(
        db,
        "course",
        [dict(id=1, fullname="Site", shortname="site"), dict(id=40, fullname="A", shortname="a")],
    )
    insert_rows(db, "course", [dict(fullname="B", shortname="b")])
    assert [row[0] for row in db.execute_sql('SELECT id FROM "mdl_course" ORDER BY id')] == [1, 40, 41]


def test_insert_rows_rejects_mistakes(db):
    create_moodle_schema(db)
    with pytest.raises(ValueError, match="no column"):
        insert_rows(db, "user", [dict(username="x", fristname="typo")])
    with pytest.raises(ValueError, match="every row or in none"):
        insert_rows(db, "user", [dict(id=5, username="x"), dict(username="y")])
    insert_rows(db, "user", [])  # nothing to do


def test_insert_rows_handles_more_values_than_sqlite_allows_in_one_statement(db):
    create_moodle_schema(db)
    # 1,000 users x 48 columns = 48,000 values, above SQLite's 32,766 per statement.
    insert_rows(
        db,
        "user",
        [
            {
                column.name: (index if column.type.startswith("int") else f"u{index}")
                for column in TABLES["user"].columns
            }
            for index in range(1, 1001)
        ],
    )
    assert scalar(db, 'SELECT count(*) FROM "mdl_user"') == 1000


# --------------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------------


def test_generate_returns_the_row_counts(tiny):
    db, counts = tiny
    assert set(counts) == set(TABLES)
    for table, count in counts.items():
        assert scalar(db, f'SELECT count(*) FROM "mdl_{table}"') == count, table
    assert counts["user_enrolments"] == SIZES["tiny"].enrolments
    assert counts["company"] == SIZES["tiny"].companies
    assert counts["user"] == SIZES["tiny"].users + 2  # + guest and admin
    assert counts["course"] == SIZES["tiny"].courses + 1  # + the site course


def test_same_seed_same_data_other_seed_other_data(tmp_path, tiny):
    first, _counts = tiny
    again = sqlite_db(tmp_path / "again.sqlite3")
    generate(again, size="tiny", seed=42, now=NOW)
    assert table_dump(again) == table_dump(first)
    other = sqlite_db(tmp_path / "other.sqlite3")
    generate(other, size="tiny", seed=7, now=NOW)
    other_dump, first_dump = table_dump(other), table_dump(first)
    assert other_dump["user"] != first_dump["user"]
    assert other_dump["user_enrolments"] != first_dump["user_enrolments"]
    assert other_dump["role"] == first_dump["role"]  # fixed Moodle data does not depend on the seed


def test_generated_indexes_exist(tiny):
    db, _counts = tiny
    for table in TABLES:
        assert set(indexes_of(db, f"mdl_{table}")) == {index.sql_name for index in index_definitions(table)}


def test_moodle_fixed_rows(tiny):
    db, _counts = tiny
    roles = db.execute_sql(
        'SELECT id, shortname, archetype FROM "mdl_role" WHERE id <= 8 ORDER BY id'
    ).fetchall()
    assert roles == [
        (1, "manager", "manager"),
        (2, "coursecreator", "coursecreator"),
        (3, "editingteacher", "editingteacher"),
        (4, "teacher", "teacher"),
        (5, "student", "student"),
        (6, "guest", "guest"),
        (7, "user", "user"),
        (8, "frontpage", "frontpage"),
    ]
    assert db.execute_sql('SELECT category, format FROM "mdl_course" WHERE id = 1').fetchone() == (0, "site")
    assert db.execute_sql('SELECT contextlevel, instanceid FROM "mdl_context" WHERE id = 1').fetchone() == (
        10,
        0,
    )
    assert db.execute_sql('SELECT username FROM "mdl_user" WHERE id IN (1, 2) ORDER BY id').fetchall() == [
        ("guest",),
        ("admin",),
    ]
    modules = {row[0] for row in db.execute_sql('SELECT name FROM "mdl_modules"')}
    assert modules == {"assign", "quiz", "page", "scorm", "forum", "resource", "url", "lesson", "h5pactivity"}


def test_web_service_and_tokens(tiny):
    db, _counts = tiny
    service = db.execute_sql(
        'SELECT id, name, enabled, restrictedusers FROM "mdl_external_services" '
        "WHERE shortname = 'alx_report_api_custom'"
    ).fetchone()
    assert service[1:] == ("ALX Report API Custom Service", 1, 0)
    tokens = db.execute_sql(
        'SELECT t.token, t.tokentype, t.externalserviceid, cu.managertype FROM "mdl_external_tokens" t '
        'JOIN "mdl_company_users" cu ON cu.userid = t.userid'
    ).fetchall()
    assert len(tokens) >= 2
    for token, tokentype, serviceid, managertype in tokens:
        assert re.fullmatch(r"[0-9a-f]{32}", token) and tokentype == 0 and serviceid == service[0]
        assert managertype == 1


REFERENTIAL_CHECKS = {
    "enrolment without its enrol instance": 'SELECT count(*) FROM "mdl_user_enrolments" ue LEFT JOIN "mdl_enrol" e ON e.id = ue.enrolid WHERE e.id IS NULL',
    "enrolment of an unknown user": 'SELECT count(*) FROM "mdl_user_enrolments" ue LEFT JOIN "mdl_user" u ON u.id = ue.userid WHERE u.id IS NULL',
    "enrol instance of an unknown course": 'SELECT count(*) FROM "mdl_enrol" e LEFT JOIN "mdl_course" c ON c.id = e.courseid WHERE c.id IS NULL',
    "role assignment outside a course context": 'SELECT count(*) FROM "mdl_role_assignments" ra LEFT JOIN "mdl_context" x '
    "ON x.id = ra.contextid AND x.contextlevel = 50 WHERE x.id IS NULL",
    "role assignment without an enrolment": 'SELECT count(*) FROM "mdl_role_assignments" ra JOIN "mdl_context" x ON x.id = ra.contextid '
    'WHERE NOT EXISTS (SELECT 1 FROM "mdl_user_enrolments" ue JOIN "mdl_enrol" e ON e.id = ue.enrolid '
    "WHERE ue.userid = ra.userid AND e.courseid = x.instanceid)",
    "course without a course context": 'SELECT count(*) FROM "mdl_course" c LEFT JOIN "mdl_context" x ON x.instanceid = c.id AND x.contextlevel = 50 '
    "WHERE x.id IS NULL",
    "activity completion without an enrolment in the activity's course": 'SELECT count(*) FROM "mdl_course_modules_completion" cmc JOIN "mdl_course_modules" cm '
    'ON cm.id = cmc.coursemoduleid WHERE NOT EXISTS (SELECT 1 FROM "mdl_user_enrolments" ue '
    'JOIN "mdl_enrol" e ON e.id = ue.enrolid WHERE ue.userid = cmc.userid AND e.courseid = cm.course)',
    "activity completion of an unknown activity": 'SELECT count(*) FROM "mdl_course_modules_completion" cmc LEFT JOIN "mdl_course_modules" cm '
    "ON cm.id = cmc.coursemoduleid WHERE cm.id IS NULL",
    "course completion without an enrolment": 'SELECT count(*) FROM "mdl_course_completions" cc WHERE NOT EXISTS (SELECT 1 FROM "mdl_user_enrolments" ue '
    'JOIN "mdl_enrol" e ON e.id = ue.enrolid WHERE ue.userid = cc.userid AND e.courseid = cc.course)',
    "course module of an unknown module type": 'SELECT count(*) FROM "mdl_course_modules" cm LEFT JOIN "mdl_modules" m ON m.id = cm.module WHERE m.id IS NULL',
    "company user in another company's department": 'SELECT count(*) FROM "mdl_company_users" cu JOIN "mdl_department" d ON d.id = cu.departmentid '
    "WHERE d.company <> cu.companyid",
    "company course of an unknown course": 'SELECT count(*) FROM "mdl_company_course" cc LEFT JOIN "mdl_course" c ON c.id = cc.courseid WHERE c.id IS NULL',
    "enrolment in a course the user's companies do not offer": 'SELECT count(*) FROM "mdl_user_enrolments" ue JOIN "mdl_enrol" e ON e.id = ue.enrolid '
    'WHERE NOT EXISTS (SELECT 1 FROM "mdl_company_users" cu JOIN "mdl_company_course" cc '
    "ON cc.companyid = cu.companyid WHERE cu.userid = ue.userid AND cc.courseid = e.courseid)",
    "deleted user with enrolments": 'SELECT count(*) FROM "mdl_user_enrolments" ue JOIN "mdl_user" u ON u.id = ue.userid WHERE u.deleted = 1',
    "activity completed in the future": f'SELECT count(*) FROM "mdl_course_modules_completion" WHERE timemodified > {NOW}',
    "course completed in the future": f'SELECT count(*) FROM "mdl_course_completions" WHERE timecompleted > {NOW}',
    "course completed before it was started": 'SELECT count(*) FROM "mdl_course_completions" WHERE timecompleted < timestarted',
}


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_referential_sanity(tmp_path, size):
    db = sqlite_db(tmp_path / f"{size}.sqlite3")
    generate(db, size=size, seed=3, now=NOW)
    problems = {name: scalar(db, sql) for name, sql in REFERENTIAL_CHECKS.items()}
    assert {name: count for name, count in problems.items() if count} == {}


def test_top_departments_have_parent_zero(tiny):
    db, _counts = tiny
    top = db.execute_sql(
        'SELECT c.shortname, d.shortname, d.parent FROM "mdl_company" c JOIN "mdl_department" d '
        "ON d.company = c.id AND d.name = c.name ORDER BY c.id"
    ).fetchall()
    assert len(top) == SIZES["tiny"].companies
    assert all(company == department and parent == 0 for company, department, parent in top)


def test_small_site_has_the_edge_cases_a_report_must_handle(tmp_path):
    db = sqlite_db(tmp_path / "small.sqlite3")
    generate(db, size="small", seed=42, now=NOW)
    edge_cases = {
        "suspended users": 'SELECT count(*) FROM "mdl_user" WHERE suspended = 1',
        "deleted users": 'SELECT count(*) FROM "mdl_user" WHERE deleted = 1',
        "users in two departments of a company": 'SELECT count(*) FROM (SELECT 1 FROM "mdl_company_users" '
        "GROUP BY companyid, userid HAVING count(*) > 1)",
        "users in two companies": 'SELECT count(*) FROM (SELECT 1 FROM "mdl_company_users" '
        "GROUP BY userid HAVING count(DISTINCT companyid) > 1)",
        "suspended company memberships": 'SELECT count(*) FROM "mdl_company_users" WHERE suspended = 1',
        "company managers": 'SELECT count(*) FROM "mdl_company_users" WHERE managertype = 1',
        "courses shared by companies": 'SELECT count(*) FROM (SELECT 1 FROM "mdl_company_course" '
        "GROUP BY courseid HAVING count(*) > 1)",
        "hidden courses": 'SELECT count(*) FROM "mdl_course" WHERE visible = 0',
        "courses without completion": 'SELECT count(*) FROM "mdl_course" WHERE enablecompletion = 0 AND id > 1',
        "untracked activities": 'SELECT count(*) FROM "mdl_course_modules" WHERE completion = 0',
        "disabled enrol instances": 'SELECT count(*) FROM "mdl_enrol" WHERE status = 1',
        "suspended enrolments": 'SELECT count(*) FROM "mdl_user_enrolments" WHERE status = 1',
        "future enrolments": f'SELECT count(*) FROM "mdl_user_enrolments" WHERE timestart > {NOW}',
        "expired enrolments": f'SELECT count(*) FROM "mdl_user_enrolments" WHERE timeend > 0 AND timeend < {NOW}',
        "teachers": 'SELECT count(*) FROM "mdl_role_assignments" WHERE roleid IN (3, 4)',
        "manual-enrol role assignments": "SELECT count(*) FROM \"mdl_role_assignments\" WHERE component = 'enrol_manual'",
        "completed courses": 'SELECT count(*) FROM "mdl_course_completions" WHERE timecompleted IS NOT NULL',
        "courses in progress": 'SELECT count(*) FROM "mdl_course_completions" WHERE timecompleted IS NULL',
        "passed and failed activities": 'SELECT count(DISTINCT completionstate) FROM "mdl_course_modules_completion" '
        "WHERE completionstate IN (2, 3)",
        "non-ASCII names": "SELECT count(*) FROM \"mdl_user\" WHERE firstname || lastname GLOB '*[^ -~]*'",
    }
    missing = [name for name, sql in edge_cases.items() if not scalar(db, sql)]
    assert missing == []
    assert scalar(db, 'SELECT count(DISTINCT username) FROM "mdl_user"') == scalar(
        db, 'SELECT count(*) FROM "mdl_user"'
    )


def test_generate_into_tables_created_beforehand(db):
    create_moodle_schema(db)  # with indexes, as a caller may do: generate uses the tables as they are
    counts = generate(db, size="tiny", seed=42, now=NOW)
    assert counts["user_enrolments"] == SIZES["tiny"].enrolments


def test_generate_with_an_empty_prefix(db):
    generate(db, "", size="tiny", seed=42, now=NOW)
    assert scalar(db, 'SELECT count(*) FROM "user_enrolments"') == SIZES["tiny"].enrolments
    assert "user_mneuse_uix" in indexes_of(db, "user")


def test_custom_size_and_impossible_size(db):
    custom = DemoSize(
        companies=2,
        users=20,
        courses=3,
        enrolments=30,
        categories=1,
        departments_per_company=2,
        courses_for_all_companies=3,
    )
    assert generate(db, size=custom, seed=1, now=NOW)["user_enrolments"] == 30
    impossible = DemoSize(
        companies=2,
        users=10,
        courses=3,
        enrolments=1_000,
        categories=1,
        departments_per_company=2,
        courses_for_all_companies=3,
    )
    other = sqlite_db(db.database + ".other")
    with pytest.raises(ValueError, match="at most"):
        generate(other, size=impossible, seed=1, now=NOW)


def test_generated_tables_have_planner_statistics_on_postgresql(postgresql_server):
    """PostgreSQL plans the first sync after the bulk load from statistics the generator gathered
    (ANALYZE), not from guesses made before autovacuum comes by."""
    from models.db import open_database

    database = open_database(postgresql_server.create_database("alx_demo_analyze"), "mdl_")
    try:
        with database.connection_context():
            generate(database, size="tiny", seed=42, now=NOW)
            never = database.execute_sql(
                "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NULL AND relname LIKE 'mdl%%'"
            ).fetchall()
            analyzed = scalar(
                database, "SELECT count(*) FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"
            )
    finally:
        database.close()
        postgresql_server.drop_database("alx_demo_analyze")
    assert never == [] and analyzed >= 20, (never, analyzed)
