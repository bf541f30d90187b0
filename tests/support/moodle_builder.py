"""Handcrafted Moodle+IOMAD data for focused tests: one method per real-world fact.

Every insert goes through the real Moodle schema (all columns, real types) created by
``alxapi.demo.moodle_schema``; ids are explicit so tests can name them.
"""

from __future__ import annotations

import itertools

import peewee

from alxapi.demo.moodle_schema import create_moodle_schema, insert_rows
from models.db import quote

STUDENT, TEACHER, EDITINGTEACHER = 5, 4, 3
ROLES = [
    (1, "manager"),
    (2, "coursecreator"),
    (3, "editingteacher"),
    (4, "teacher"),
    (5, "student"),
    (6, "guest"),
    (7, "user"),
    (8, "frontpage"),
]


class MoodleBuilder:
    def __init__(self, db: peewee.Database, prefix: str = "mdl_", now: int = 1_700_000_000):
        self.db = db
        self.prefix = prefix
        self.now = now
        self._ids = itertools.count(1000)
        create_moodle_schema(db, prefix)
        self.insert(
            "role",
            [
                dict(id=i, name=s.title(), shortname=s, description="", sortorder=i, archetype=s)
                for i, s in ROLES
            ],
        )
        self.insert(
            "course",
            [
                dict(
                    id=1, category=0, fullname="Site", shortname="site", idnumber="", visible=1, format="site"
                )
            ],
        )
        self.insert("context", [dict(id=1, contextlevel=10, instanceid=0, path="/1", depth=1)])

    @classmethod
    def attach(cls, db: peewee.Database, next_id: int, prefix: str = "mdl_", now: int = 1_700_000_000):
        """A builder for a site that already exists (a copy of a built one): no schema, no base rows;
        its ids continue from ``next_id``, where the builder of the original stopped."""
        builder = cls.__new__(cls)
        builder.db, builder.prefix, builder.now = db, prefix, now
        builder._ids = itertools.count(next_id)
        return builder

    def insert(self, table: str, rows: list[dict]) -> None:
        insert_rows(self.db, table, rows, prefix=self.prefix)

    def next_id(self) -> int:
        return next(self._ids)

    def log(
        self,
        userid: int,
        courseid: int,
        when: int,
        *,
        edulevel: int = 1,
        anonymous: int = 0,
        realuserid: int | None = None,
        eid: int | None = None,
    ) -> int:
        """One row of Moodle's standard log (a course module viewed, by default)."""
        eid = self.next_id() if eid is None else eid
        self.insert(
            "logstore_standard_log",
            [
                dict(
                    id=eid, eventname="\\mod_page\\event\\course_module_viewed", component="mod_page",
                    action="viewed", target="course_module", crud="r", edulevel=edulevel, contextid=1,
                    contextlevel=70, contextinstanceid=1, userid=userid, courseid=courseid,
                    anonymous=anonymous, timecreated=when, origin="web", realuserid=realuserid,
                )
            ],
        )  # fmt: skip
        return eid

    def enable_log(self, stores: str = "logstore_standard") -> None:
        """Moodle's tool_log setting naming the enabled log stores (the sync's change feed)."""
        self.execute("DELETE FROM {t:config_plugins} WHERE plugin = 'tool_log' AND name = 'enabled_stores'")
        self.insert(
            "config_plugins",
            [dict(id=self.next_id(), plugin="tool_log", name="enabled_stores", value=stores)],
        )

    def event(
        self,
        name: str,
        *,
        relateduserid: int | None = None,
        courseid: int = 0,
        contextlevel: int = 50,
        contextinstanceid: int | None = None,
        when: int | None = None,
        eid: int | None = None,
    ) -> int:
        """The log row Moodle writes for a change (``name`` without the ``\\core\\event\\`` part).

        Ids follow the last one in the log, as Moodle's sequence gives them, unless ``eid`` is given.
        """
        if eid is None:
            table = quote(self.prefix + "logstore_standard_log", self.db)
            top = self.db.execute_sql(f"SELECT MAX(id) FROM {table}").fetchone()[0]
            eid = (top or 0) + 1
        target, _, action = name.rpartition("_")
        self.insert(
            "logstore_standard_log",
            [
                dict(
                    id=eid, eventname=f"\\core\\event\\{name}", component="core", action=action,
                    target=target, crud={"created": "c", "deleted": "d"}.get(action, "u"), edulevel=0,
                    contextid=1, contextlevel=contextlevel,
                    contextinstanceid=courseid if contextinstanceid is None else contextinstanceid,
                    userid=2, courseid=courseid, relateduserid=relateduserid, anonymous=0,
                    timecreated=self.now if when is None else when, origin="web",
                )
            ],
        )  # fmt: skip
        return eid

    # -- IOMAD ---------------------------------------------------------------------------
    def company(self, cid: int, name: str | None = None, suspended: int = 0) -> int:
        self.insert(
            "company",
            [
                dict(
                    id=cid,
                    name=name or f"Company {cid}",
                    shortname=f"c{cid}",
                    city="X",
                    country="GB",
                    theme="",
                    suspended=suspended,
                )
            ],
        )
        self.insert(
            "department", [dict(id=cid * 100, name=f"Dept {cid}", shortname=f"d{cid}", company=cid, parent=0)]
        )
        return cid

    def member(self, companyid: int, userid: int, suspended: int = 0, departmentid: int | None = None) -> int:
        rid = self.next_id()
        self.insert(
            "company_users",
            [
                dict(
                    id=rid,
                    companyid=companyid,
                    userid=userid,
                    managertype=0,
                    departmentid=departmentid or companyid * 100,
                    suspended=suspended,
                )
            ],
        )
        return rid

    def company_course(self, companyid: int, courseid: int) -> None:
        self.insert(
            "company_course",
            [dict(id=self.next_id(), companyid=companyid, courseid=courseid, departmentid=companyid * 100)],
        )

    # -- Moodle core ---------------------------------------------------------------------
    def user(
        self,
        uid: int,
        *,
        deleted: int = 0,
        suspended: int = 0,
        first: str | None = None,
        last: str | None = None,
        email: str | None = None,
        timemodified: int = 0,
    ) -> int:
        self.insert(
            "user",
            [
                dict(
                    id=uid,
                    username=f"user{uid}",
                    firstname=first or f"First{uid}",
                    lastname=last or f"Last{uid}",
                    email=email or f"user{uid}@example.com",
                    deleted=deleted,
                    suspended=suspended,
                    confirmed=1,
                    mnethostid=1,
                    auth="manual",
                    timemodified=timemodified,
                )
            ],
        )
        return uid

    def course(
        self,
        cid: int,
        *,
        visible: int = 1,
        enablecompletion: int = 1,
        category: int = 1,
        name: str | None = None,
        modules: int = 0,
    ) -> int:
        self.insert(
            "course",
            [
                dict(
                    id=cid,
                    category=category,
                    fullname=name or f"Course {cid}",
                    shortname=f"C{cid}",
                    idnumber="",
                    visible=visible,
                    enablecompletion=enablecompletion,
                )
            ],
        )
        self.insert(
            "context",
            [dict(id=10_000 + cid, contextlevel=50, instanceid=cid, path=f"/1/{10_000 + cid}", depth=2)],
        )
        self.insert("enrol", [dict(id=cid * 10, enrol="manual", status=0, courseid=cid)])
        for _ in range(modules):
            self.module(cid)
        return cid

    def module(self, courseid: int, *, completion: int = 1, deletioninprogress: int = 0) -> int:
        mid = self.next_id()
        self.insert(
            "course_modules",
            [
                dict(
                    id=mid,
                    course=courseid,
                    module=1,
                    instance=mid,
                    section=0,
                    completion=completion,
                    deletioninprogress=deletioninprogress,
                )
            ],
        )
        return mid

    def modules_of(self, courseid: int) -> list[int]:
        table = quote(self.prefix + "course_modules", self.db)
        return [
            r[0]
            for r in self.db.execute_sql(
                f"SELECT id FROM {table} WHERE course = {self.db.param} ORDER BY id", [courseid]
            ).fetchall()
        ]

    def enrol_instance(self, courseid: int, *, method: str = "self", status: int = 0) -> int:
        eid = self.next_id()
        self.insert("enrol", [dict(id=eid, enrol=method, status=status, courseid=courseid)])
        return eid

    def enrol(
        self,
        userid: int,
        courseid: int,
        *,
        enrolid: int | None = None,
        status: int = 0,
        timestart: int = 0,
        timeend: int = 0,
        timecreated: int | None = None,
        role: int | None = STUDENT,
    ) -> int:
        ueid = self.next_id()
        created = self.now - 86_400 if timecreated is None else timecreated
        self.insert(
            "user_enrolments",
            [
                dict(
                    id=ueid,
                    status=status,
                    enrolid=enrolid or courseid * 10,
                    userid=userid,
                    timestart=timestart,
                    timeend=timeend,
                    modifierid=2,
                    timecreated=created,
                    timemodified=created,
                )
            ],
        )
        if role is not None:
            self.assign(userid, courseid, role)
        return ueid

    def assign(
        self, userid: int, courseid: int, roleid: int = STUDENT, *, contextid: int | None = None
    ) -> int:
        raid = self.next_id()
        self.insert(
            "role_assignments",
            [
                dict(
                    id=raid,
                    roleid=roleid,
                    contextid=contextid or 10_000 + courseid,
                    userid=userid,
                    timemodified=self.now - 86_400,
                    modifierid=2,
                    component="",
                    itemid=0,
                )
            ],
        )
        return raid

    def complete_module(self, userid: int, moduleid: int, *, state: int = 1, when: int | None = None) -> int:
        rid = self.next_id()
        self.insert(
            "course_modules_completion",
            [
                dict(
                    id=rid,
                    coursemoduleid=moduleid,
                    userid=userid,
                    completionstate=state,
                    timemodified=when or self.now - 3_600,
                )
            ],
        )
        return rid

    def course_completion(
        self,
        userid: int,
        courseid: int,
        *,
        timecompleted: int | None = None,
        timestarted: int = 0,
        timeenrolled: int = 0,
    ) -> int:
        rid = self.next_id()
        self.insert(
            "course_completions",
            [
                dict(
                    id=rid,
                    userid=userid,
                    course=courseid,
                    timeenrolled=timeenrolled,
                    timestarted=timestarted,
                    timecompleted=timecompleted,
                    reaggregate=0,
                )
            ],
        )
        return rid

    # -- writes a real Moodle would do ---------------------------------------------------
    def execute(self, sql: str, params: list | None = None) -> None:
        """Run SQL with ``{t:name}`` placeholders replaced by quoted, prefixed table names."""
        import re

        sql = re.sub(r"\{t:(\w+)\}", lambda m: quote(self.prefix + m.group(1), self.db), sql)
        sql = sql.replace("?", self.db.param)
        self.db.execute_sql(sql, params or [])
