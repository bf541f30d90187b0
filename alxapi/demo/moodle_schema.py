"""The real Moodle 4.4.5 / IOMAD 4.4.5 tables the product reads, creatable in an empty database.

Demo databases and tests need Moodle's tables exactly as a real site has them: every column (not
only the ones ALX reads), the same NULL/DEFAULT rules, the same indexes. The definitions below are
transcribed from ``lib/db/install.xml`` (Moodle 4.4.5, XMLDB VERSION 20240408) and
``local/iomad/db/install.xml`` (IOMAD 4.4.5, XMLDB VERSION 20241210). They are embedded as Python
data because the XML files are not shipped with the product.

The DDL follows Moodle's own XMLDB generators (``lib/ddl/*_sql_generator.php``):

* integers by declared length: MySQL int(1-2) TINYINT, (3-4) SMALLINT, (5-6) MEDIUMINT, (7-9) INT,
  (10+) BIGINT; PostgreSQL int(1-4) SMALLINT, (5-9) INTEGER, (10+) BIGINT; SQLite INTEGER;
* ``char(N)`` VARCHAR(N), ``text`` LONGTEXT (MySQL) / TEXT, ``number(L,D)`` DECIMAL / NUMERIC;
* NOT NULL char columns without a default get ``DEFAULT ''``;
* one index per XMLDB index *and* one per foreign key (Moodle never creates real FK constraints),
  named with Moodle's scheme ``<prefix><tabl>_<col>_ix`` / ``_uix``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from typing import Any, NamedTuple

import peewee

from models.db import dialect, quote

NN = True  # NOT NULL
NULL = False


class Column(NamedTuple):
    """One XMLDB field. ``type`` is spelled as in install.xml: int(10), char(255), text, number(10,5).

    ``default`` None means "no DEFAULT clause". The ``id`` column of every table is the SEQUENCE
    (auto-increment primary key).
    """

    name: str
    type: str
    notnull: bool
    default: str | int | None = None


class ForeignKey(NamedTuple):
    column: str
    references: str  # table name without prefix; may be a table we do not create (e.g. groupings)


class Index(NamedTuple):
    name: str  # the XMLDB index name, for reference; the SQL name follows Moodle's naming scheme
    columns: tuple[str, ...]
    unique: bool = False


class Table(NamedTuple):
    columns: tuple[Column, ...]
    foreign_keys: tuple[ForeignKey, ...] = ()
    indexes: tuple[Index, ...] = ()


# Transcribed from the XMLDB dumps, column order as in install.xml (it is the physical column order).
TABLES: dict[str, Table] = {
    "user": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("auth", "char(20)", NN, "manual"),
            Column("confirmed", "int(1)", NN, 0),
            Column("policyagreed", "int(1)", NN, 0),
            Column("deleted", "int(1)", NN, 0),
            Column("suspended", "int(1)", NN, 0),
            Column("mnethostid", "int(10)", NN, 0),
            Column("username", "char(100)", NN),
            Column("password", "char(255)", NN),
            Column("idnumber", "char(255)", NN),
            Column("firstname", "char(100)", NN),
            Column("lastname", "char(100)", NN),
            Column("email", "char(100)", NN),
            Column("emailstop", "int(1)", NN, 0),
            Column("phone1", "char(20)", NN),
            Column("phone2", "char(20)", NN),
            Column("institution", "char(255)", NN),
            Column("department", "char(255)", NN),
            Column("address", "char(255)", NN),
            Column("city", "char(120)", NN),
            Column("country", "char(2)", NN),
            Column("lang", "char(30)", NN, "en"),
            Column("calendartype", "char(30)", NN, "gregorian"),
            Column("theme", "char(50)", NN),
            Column("timezone", "char(100)", NN, "99"),
            Column("firstaccess", "int(10)", NN, 0),
            Column("lastaccess", "int(10)", NN, 0),
            Column("lastlogin", "int(10)", NN, 0),
            Column("currentlogin", "int(10)", NN, 0),
            Column("lastip", "char(45)", NN),
            Column("secret", "char(15)", NN),
            Column("picture", "int(10)", NN, 0),
            Column("description", "text", NULL),
            Column("descriptionformat", "int(2)", NN, 1),
            Column("mailformat", "int(1)", NN, 1),
            Column("maildigest", "int(1)", NN, 0),
            Column("maildisplay", "int(2)", NN, 2),
            Column("autosubscribe", "int(1)", NN, 1),
            Column("trackforums", "int(1)", NN, 0),
            Column("timecreated", "int(10)", NN, 0),
            Column("timemodified", "int(10)", NN, 0),
            Column("trustbitmask", "int(10)", NN, 0),
            Column("imagealt", "char(255)", NULL),
            Column("lastnamephonetic", "char(255)", NULL),
            Column("firstnamephonetic", "char(255)", NULL),
            Column("middlename", "char(255)", NULL),
            Column("alternatename", "char(255)", NULL),
            Column("moodlenetprofile", "char(255)", NULL),
        ),
        indexes=(
            Index("username", ("mnethostid", "username"), unique=True),
            Index("deleted", ("deleted",)),
            Index("confirmed", ("confirmed",)),
            Index("firstname", ("firstname",)),
            Index("lastname", ("lastname",)),
            Index("city", ("city",)),
            Index("country", ("country",)),
            Index("lastaccess", ("lastaccess",)),
            Index("email", ("email",)),
            Index("auth", ("auth",)),
            Index("idnumber", ("idnumber",)),
            Index("firstnamephonetic", ("firstnamephonetic",)),
            Index("lastnamephonetic", ("lastnamephonetic",)),
            Index("middlename", ("middlename",)),
            Index("alternatename", ("alternatename",)),
        ),
    ),
    "course": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("category", "int(10)", NN, 0),
            Column("sortorder", "int(10)", NN, 0),
            Column("fullname", "char(254)", NN),
            Column("shortname", "char(255)", NN),
            Column("idnumber", "char(100)", NN),
            Column("summary", "text", NULL),
            Column("summaryformat", "int(2)", NN, 0),
            Column("format", "char(21)", NN, "topics"),
            Column("showgrades", "int(2)", NN, 1),
            Column("newsitems", "int(5)", NN, 1),
            Column("startdate", "int(10)", NN, 0),
            Column("enddate", "int(10)", NN, 0),
            Column("relativedatesmode", "int(1)", NN, 0),
            Column("marker", "int(10)", NN, 0),
            Column("maxbytes", "int(10)", NN, 0),
            Column("legacyfiles", "int(4)", NN, 0),
            Column("showreports", "int(4)", NN, 0),
            Column("visible", "int(1)", NN, 1),
            Column("visibleold", "int(1)", NN, 1),
            Column("downloadcontent", "int(1)", NULL),
            Column("groupmode", "int(4)", NN, 0),
            Column("groupmodeforce", "int(4)", NN, 0),
            Column("defaultgroupingid", "int(10)", NN, 0),
            Column("lang", "char(30)", NN),
            Column("calendartype", "char(30)", NN),
            Column("theme", "char(50)", NN),
            Column("timecreated", "int(10)", NN, 0),
            Column("timemodified", "int(10)", NN, 0),
            Column("requested", "int(1)", NN, 0),
            Column("enablecompletion", "int(1)", NN, 0),
            Column("completionnotify", "int(1)", NN, 0),
            Column("cacherev", "int(10)", NN, 0),
            Column("originalcourseid", "int(10)", NULL),
            Column("showactivitydates", "int(1)", NN, 0),
            Column("showcompletionconditions", "int(1)", NULL),
            Column("pdfexportfont", "char(50)", NULL),
        ),
        foreign_keys=(ForeignKey("originalcourseid", "course"),),
        indexes=(
            Index("category", ("category",)),
            Index("idnumber", ("idnumber",)),
            Index("shortname", ("shortname",)),
            Index("sortorder", ("sortorder",)),
        ),
    ),
    "course_categories": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("name", "char(255)", NN),
            Column("idnumber", "char(100)", NULL),
            Column("description", "text", NULL),
            Column("descriptionformat", "int(2)", NN, 0),
            Column("parent", "int(10)", NN, 0),
            Column("sortorder", "int(10)", NN, 0),
            Column("coursecount", "int(10)", NN, 0),
            Column("visible", "int(1)", NN, 1),
            Column("visibleold", "int(1)", NN, 1),
            Column("timemodified", "int(10)", NN, 0),
            Column("depth", "int(10)", NN, 0),
            Column("path", "char(255)", NN),
            Column("theme", "char(50)", NULL),
        ),
        foreign_keys=(ForeignKey("parent", "course_categories"),),
    ),
    "course_modules": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("course", "int(10)", NN, 0),
            Column("module", "int(10)", NN, 0),
            Column("instance", "int(10)", NN, 0),
            Column("section", "int(10)", NN, 0),
            Column("idnumber", "char(100)", NULL),
            Column("added", "int(10)", NN, 0),
            Column("score", "int(4)", NN, 0),
            Column("indent", "int(5)", NN, 0),
            Column("visible", "int(1)", NN, 1),
            Column("visibleoncoursepage", "int(1)", NN, 1),
            Column("visibleold", "int(1)", NN, 1),
            Column("groupmode", "int(4)", NN, 0),
            Column("groupingid", "int(10)", NN, 0),
            Column("completion", "int(1)", NN, 0),
            Column("completiongradeitemnumber", "int(10)", NULL),
            Column("completionview", "int(1)", NN, 0),
            Column("completionexpected", "int(10)", NN, 0),
            Column("completionpassgrade", "int(1)", NN, 0),
            Column("showdescription", "int(1)", NN, 0),
            Column("availability", "text", NULL),
            Column("deletioninprogress", "int(1)", NN, 0),
            Column("downloadcontent", "int(1)", NULL, 1),
            Column("lang", "char(30)", NULL),
        ),
        foreign_keys=(ForeignKey("groupingid", "groupings"),),
        indexes=(
            Index("visible", ("visible",)),
            Index("course", ("course",)),
            Index("module", ("module",)),
            Index("instance", ("instance",)),
            Index("idnumber-course", ("idnumber", "course")),
        ),
    ),
    "course_modules_completion": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("coursemoduleid", "int(10)", NN),
            Column("userid", "int(10)", NN),
            Column("completionstate", "int(1)", NN),
            Column("overrideby", "int(10)", NULL),
            Column("timemodified", "int(10)", NN),
        ),
        indexes=(
            Index("coursemoduleid", ("coursemoduleid",)),
            Index("userid-coursemoduleid", ("userid", "coursemoduleid"), unique=True),
        ),
    ),
    "course_completions": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("userid", "int(10)", NN, 0),
            Column("course", "int(10)", NN, 0),
            Column("timeenrolled", "int(10)", NN, 0),
            Column("timestarted", "int(10)", NN, 0),
            Column("timecompleted", "int(10)", NULL),
            Column("reaggregate", "int(10)", NN, 0),
        ),
        indexes=(
            Index("userid", ("userid",)),
            Index("course", ("course",)),
            Index("timecompleted", ("timecompleted",)),
            Index("useridcourse", ("userid", "course"), unique=True),
        ),
    ),
    "modules": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("name", "char(20)", NN),
            Column("cron", "int(10)", NN, 0),
            Column("lastcron", "int(10)", NN, 0),
            Column("search", "char(255)", NN),
            Column("visible", "int(1)", NN, 1),
        ),
        indexes=(Index("name", ("name",)),),
    ),
    "enrol": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("enrol", "char(20)", NN),
            Column("status", "int(10)", NN, 0),
            Column("courseid", "int(10)", NN),
            Column("sortorder", "int(10)", NN, 0),
            Column("name", "char(255)", NULL),
            Column("enrolperiod", "int(10)", NULL, 0),
            Column("enrolstartdate", "int(10)", NULL, 0),
            Column("enrolenddate", "int(10)", NULL, 0),
            Column("expirynotify", "int(1)", NULL, 0),
            Column("expirythreshold", "int(10)", NULL, 0),
            Column("notifyall", "int(1)", NULL, 0),
            Column("password", "char(50)", NULL),
            Column("cost", "char(20)", NULL),
            Column("currency", "char(3)", NULL),
            Column("roleid", "int(10)", NULL, 0),
            Column("customint1", "int(10)", NULL),
            Column("customint2", "int(10)", NULL),
            Column("customint3", "int(10)", NULL),
            Column("customint4", "int(10)", NULL),
            Column("customint5", "int(10)", NULL),
            Column("customint6", "int(10)", NULL),
            Column("customint7", "int(10)", NULL),
            Column("customint8", "int(10)", NULL),
            Column("customchar1", "char(255)", NULL),
            Column("customchar2", "char(255)", NULL),
            Column("customchar3", "char(1333)", NULL),
            Column("customdec1", "number(12,7)", NULL),
            Column("customdec2", "number(12,7)", NULL),
            Column("customtext1", "text", NULL),
            Column("customtext2", "text", NULL),
            Column("customtext3", "text", NULL),
            Column("customtext4", "text", NULL),
            Column("timecreated", "int(10)", NN, 0),
            Column("timemodified", "int(10)", NN, 0),
        ),
        foreign_keys=(
            ForeignKey("courseid", "course"),
            ForeignKey("roleid", "role"),
        ),
        indexes=(Index("enrol", ("enrol",)),),
    ),
    "user_enrolments": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("status", "int(10)", NN, 0),
            Column("enrolid", "int(10)", NN),
            Column("userid", "int(10)", NN),
            Column("timestart", "int(10)", NN, 0),
            Column("timeend", "int(10)", NN, 2147483647),
            Column("modifierid", "int(10)", NN, 0),
            Column("timecreated", "int(10)", NN, 0),
            Column("timemodified", "int(10)", NN, 0),
        ),
        foreign_keys=(
            ForeignKey("enrolid", "enrol"),
            ForeignKey("userid", "user"),
            ForeignKey("modifierid", "user"),
        ),
        indexes=(Index("enrolid-userid", ("enrolid", "userid"), unique=True),),
    ),
    "logstore_standard_log": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("eventname", "char(255)", NN),
            Column("component", "char(100)", NN),
            Column("action", "char(100)", NN),
            Column("target", "char(100)", NN),
            Column("objecttable", "char(50)", NULL),
            Column("objectid", "int(10)", NULL),
            Column("crud", "char(1)", NN),
            Column("edulevel", "int(1)", NN),
            Column("contextid", "int(10)", NN),
            Column("contextlevel", "int(10)", NN),
            Column("contextinstanceid", "int(10)", NN),
            Column("userid", "int(10)", NN),
            Column("courseid", "int(10)", NULL),
            Column("relateduserid", "int(10)", NULL),
            Column("anonymous", "int(1)", NN, 0),
            Column("other", "text", NULL),
            Column("timecreated", "int(10)", NN),
            Column("origin", "char(10)", NULL),
            Column("ip", "char(45)", NULL),
            Column("realuserid", "int(10)", NULL),
        ),
        foreign_keys=(
            ForeignKey("contextid", "context"),
            ForeignKey("userid", "user"),
            ForeignKey("courseid", "course"),
            ForeignKey("realuserid", "user"),
            ForeignKey("relateduserid", "user"),
        ),
        indexes=(
            Index("timecreated", ("timecreated",)),
            Index("course-time", ("courseid", "anonymous", "timecreated")),
            Index(
                "user-module",
                ("userid", "contextlevel", "contextinstanceid", "crud", "edulevel", "timecreated"),
            ),
        ),
    ),
    "user_lastaccess": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("userid", "int(10)", NN, 0),
            Column("courseid", "int(10)", NN, 0),
            Column("timeaccess", "int(10)", NN, 0),
        ),
        foreign_keys=(
            ForeignKey("userid", "user"),
            ForeignKey("courseid", "course"),
        ),
        indexes=(Index("userid-courseid", ("userid", "courseid"), unique=True),),
    ),
    "context": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("contextlevel", "int(10)", NN, 0),
            Column("instanceid", "int(10)", NN, 0),
            Column("path", "char(255)", NULL),
            Column("depth", "int(2)", NN, 0),
            Column("locked", "int(2)", NN, 0),
        ),
        indexes=(
            Index("contextlevel-instanceid", ("contextlevel", "instanceid"), unique=True),
            Index("instanceid", ("instanceid",)),
            Index("path", ("path",)),
        ),
    ),
    "config_plugins": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("plugin", "char(100)", NN, "core"),
            Column("name", "char(100)", NN),
            Column("value", "text", NULL),
        ),
        indexes=(Index("plugin-name", ("plugin", "name"), unique=True),),
    ),
    "role": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("name", "char(255)", NN),
            Column("shortname", "char(100)", NN),
            Column("description", "text", NN),
            Column("sortorder", "int(10)", NN, 0),
            Column("archetype", "char(30)", NN),
        ),
        indexes=(
            Index("sortorder", ("sortorder",), unique=True),
            Index("shortname", ("shortname",), unique=True),
        ),
    ),
    "role_assignments": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("roleid", "int(10)", NN, 0),
            Column("contextid", "int(10)", NN, 0),
            Column("userid", "int(10)", NN, 0),
            Column("timemodified", "int(10)", NN, 0),
            Column("modifierid", "int(10)", NN, 0),
            Column("component", "char(100)", NN),
            Column("itemid", "int(10)", NN, 0),
            Column("sortorder", "int(10)", NN, 0),
        ),
        foreign_keys=(
            ForeignKey("roleid", "role"),
            ForeignKey("contextid", "context"),
            ForeignKey("userid", "user"),
        ),
        indexes=(
            Index("sortorder", ("sortorder",)),
            Index("rolecontext", ("roleid", "contextid")),
            Index("usercontextrole", ("userid", "contextid", "roleid")),
            Index("component-itemid-userid", ("component", "itemid", "userid")),
        ),
    ),
    "external_services": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("name", "char(200)", NN),
            Column("enabled", "int(1)", NN),
            Column("requiredcapability", "char(150)", NULL),
            Column("restrictedusers", "int(1)", NN),
            Column("component", "char(100)", NULL),
            Column("timecreated", "int(10)", NN),
            Column("timemodified", "int(10)", NULL),
            Column("shortname", "char(255)", NULL),
            Column("downloadfiles", "int(1)", NN, 0),
            Column("uploadfiles", "int(1)", NN, 0),
        ),
        indexes=(Index("name", ("name",), unique=True),),
    ),
    "external_functions": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("name", "char(200)", NN),
            Column("classname", "char(100)", NN),
            Column("methodname", "char(100)", NN),
            Column("classpath", "char(255)", NULL),
            Column("component", "char(100)", NN),
            Column("capabilities", "char(255)", NULL),
            Column("services", "char(1333)", NULL),
        ),
        indexes=(Index("name", ("name",), unique=True),),
    ),
    "external_services_functions": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("externalserviceid", "int(10)", NN),
            Column("functionname", "char(200)", NN),
        ),
        foreign_keys=(ForeignKey("externalserviceid", "external_services"),),
    ),
    "external_services_users": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("externalserviceid", "int(10)", NN),
            Column("userid", "int(10)", NN),
            Column("iprestriction", "char(255)", NULL),
            Column("validuntil", "int(10)", NULL),
            Column("timecreated", "int(10)", NULL),
        ),
        foreign_keys=(
            ForeignKey("externalserviceid", "external_services"),
            ForeignKey("userid", "user"),
        ),
    ),
    "external_tokens": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("token", "char(128)", NN),
            Column("privatetoken", "char(64)", NULL),
            Column("tokentype", "int(4)", NN),
            Column("userid", "int(10)", NN),
            Column("externalserviceid", "int(10)", NN),
            Column("sid", "char(128)", NULL),
            Column("contextid", "int(10)", NN),
            Column("creatorid", "int(10)", NN, 1),
            Column("iprestriction", "char(255)", NULL),
            Column("validuntil", "int(10)", NULL),
            Column("timecreated", "int(10)", NN),
            Column("lastaccess", "int(10)", NULL),
            Column("name", "char(255)", NULL),
        ),
        foreign_keys=(
            ForeignKey("userid", "user"),
            ForeignKey("externalserviceid", "external_services"),
            ForeignKey("contextid", "context"),
            ForeignKey("creatorid", "user"),
        ),
        indexes=(
            Index("token", ("token",)),
            Index("sid", ("sid",)),
        ),
    ),
    "company": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("name", "char(50)", NN),
            Column("shortname", "char(25)", NN),
            Column("code", "char(255)", NULL),
            Column("address", "text", NULL),
            Column("city", "char(50)", NN),
            Column("region", "char(50)", NULL),
            Column("postcode", "char(20)", NULL),
            Column("country", "char(2)", NN),
            Column("maildisplay", "int(2)", NN, 2),
            Column("mailformat", "int(1)", NN, 1),
            Column("maildigest", "int(1)", NN, 0),
            Column("autosubscribe", "int(1)", NN, 1),
            Column("trackforums", "int(1)", NN, 0),
            Column("htmleditor", "int(1)", NN, 1),
            Column("screenreader", "int(1)", NN, 0),
            Column("timezone", "char(100)", NN, "99"),
            Column("lang", "char(30)", NN, "en"),
            Column("bgcolor_header", "char(7)", NULL),
            Column("bgcolor_content", "char(7)", NULL),
            Column("theme", "char(50)", NN),
            Column("category", "int(20)", NN, 0),
            Column("profileid", "int(10)", NN, 0),
            Column("suspended", "int(1)", NN, 0),
            Column("customcss", "text", NULL),
            Column("maincolor", "char(20)", NULL, "null"),
            Column("headingcolor", "char(20)", NULL, "null"),
            Column("linkcolor", "char(20)", NULL, "null"),
            Column("emailprofileid", "int(20)", NULL),
            Column("supervisorprofileid", "int(10)", NN, 0),
            Column("managernotify", "int(10)", NN, 0),
            Column("parentid", "int(20)", NN, 0),
            Column("ecommerce", "int(1)", NN, 0),
            Column("custommenuitems", "text", NULL),
            Column("managerdigestday", "int(1)", NN, 0),
            Column("previousroletemplateid", "int(20)", NN, 0),
            Column("previousemailtemplateid", "int(20)", NN, 0),
            Column("hostname", "char(200)", NULL),
            Column("maxusers", "int(20)", NN, 0),
            Column("validto", "int(20)", NULL),
            Column("suspendafter", "int(10)", NULL),
            Column("companyterminated", "int(1)", NN, 0),
            Column("custom1", "char(255)", NULL),
            Column("custom2", "char(255)", NULL),
            Column("custom3", "char(255)", NULL),
            Column("paymentaccount", "int(10)", NULL),
            Column("departmentprofileid", "int(20)", NN, 0),
        ),
        foreign_keys=(
            ForeignKey("profileid", "user_info_field"),
            ForeignKey("supervisorprofileid", "user_info_field"),
            ForeignKey("category", "course_categories"),
            ForeignKey("emailprofileid", "user_info_field"),
            ForeignKey("previousroletemplateid", "company_role_templates"),
            ForeignKey("previousemailtemplateid", "email_templateset"),
            ForeignKey("departmentprofileid", "user_info_field"),
        ),
        indexes=(
            Index("comp_shortname", ("shortname",)),
            Index("comp_name", ("name",)),
            Index("comp_par", ("parentid",)),
        ),
    ),
    "company_users": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("companyid", "int(10)", NN),
            Column("userid", "int(10)", NN),
            Column("managertype", "int(1)", NN, 0),
            Column("departmentid", "int(10)", NN),
            Column("suspended", "int(1)", NN, 0),
            Column("educator", "int(1)", NN, 0),
            Column("lastused", "int(20)", NULL),
        ),
        indexes=(
            Index("departmentusers", ("companyid", "userid", "departmentid"), unique=True),
            Index("companymanagers", ("companyid", "managertype")),
            Index("departmentmanagers", ("departmentid", "managertype")),
        ),
    ),
    "company_course": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("companyid", "int(11)", NN),
            Column("courseid", "int(11)", NN),
            Column("departmentid", "int(10)", NN),
        ),
        indexes=(
            Index("companycourse", ("companyid", "courseid")),
            Index("departmentcourse", ("departmentid", "courseid")),
        ),
    ),
    "department": Table(
        columns=(
            Column("id", "int(10)", NN),
            Column("name", "char(255)", NN),
            Column("shortname", "char(32)", NN),
            Column("company", "int(20)", NN, 0),
            Column("parent", "int(20)", NULL),
        ),
        indexes=(
            Index("depa_idcom", ("id", "company")),
            Index("depa_idcompar", ("id", "company", "parent")),
        ),
    ),
}

MOODLE_TABLES: tuple[str, ...] = (
    "user",
    "course",
    "course_categories",
    "course_modules",
    "course_modules_completion",
    "course_completions",
    "modules",
    "enrol",
    "user_enrolments",
    "context",
    "role",
    "role_assignments",
    "external_services",
    "external_functions",
    "external_services_functions",
    "external_services_users",
    "external_tokens",
    "logstore_standard_log",
    "user_lastaccess",
    "config_plugins",
)
IOMAD_TABLES: tuple[str, ...] = ("company", "company_users", "company_course", "department")

# Moodle keeps key/index/sequence names within 30 characters ($names_max_length) for every database.
_NAME_MAX_LENGTH = 30
# PostgreSQL's protocol allows at most 65535 bound parameters per statement. (SQLite's limit of
# 32766 does not apply: it gets one single-row statement executed many times.)
_POSTGRESQL_MAX_PARAMS = 65535
# Rows per multi-row INSERT on MySQL/PostgreSQL (well under max_allowed_packet), and rows per
# transaction on SQLite, where executemany() makes each row cheap but a commit is an fsync.
_SERVER_ROWS_PER_STATEMENT = 1000
_SQLITE_ROWS_PER_TRANSACTION = 50_000

_TYPE_RE = re.compile(r"^(int|char|number|text)(?:\((\d+)(?:,(\d+))?\))?$")


# --------------------------------------------------------------------------------------------------
# Dialects and identifiers
# --------------------------------------------------------------------------------------------------


def dialect_of(db: peewee.Database) -> str:
    """'sqlite', 'mysql' or 'postgresql' (pooled subclasses and proxies included)."""
    return dialect(db)


def quote_name(db: peewee.Database, name: str) -> str:
    """Quote an identifier with the database's quote characters (`user` is reserved in PostgreSQL)."""
    return quote(name, db)


def table_spec(table: str) -> Table:
    try:
        return TABLES[table]
    except KeyError:
        raise ValueError(f"unknown Moodle/IOMAD table {table!r}; known: {', '.join(TABLES)}") from None


def _selected_tables(tables: Iterable[str] | None) -> list[str]:
    if tables is None:
        return list(TABLES)
    selected = list(tables)
    for name in selected:
        table_spec(name)
    return selected


# --------------------------------------------------------------------------------------------------
# Column DDL
# --------------------------------------------------------------------------------------------------


def _parse_type(xmldb_type: str) -> tuple[str, int, int]:
    """'int(10)' -> ('int', 10, 0); 'number(10,5)' -> ('number', 10, 5); 'text' -> ('text', 0, 0)."""
    match = _TYPE_RE.match(xmldb_type)
    if not match:
        raise ValueError(f"unknown XMLDB type {xmldb_type!r}")
    kind, length, decimals = match.groups()
    return kind, int(length or 0), int(decimals or 0)


def _integer_sql(length: int, dialect: str) -> str:
    if dialect == "sqlite":
        return "INTEGER"
    if dialect == "mysql":
        for max_length, sql_type in ((2, "TINYINT"), (4, "SMALLINT"), (6, "MEDIUMINT"), (9, "INT")):
            if length <= max_length:
                return sql_type
        return "BIGINT"
    if length <= 4:
        return "SMALLINT"
    return "INTEGER" if length <= 9 else "BIGINT"


def column_type_sql(column: Column, dialect: str) -> str:
    """The SQL type Moodle's generator would use for ``column`` on ``dialect``."""
    kind, length, decimals = _parse_type(column.type)
    if kind == "int":
        return _integer_sql(length, dialect)
    if kind == "char":
        return f"VARCHAR({length})"
    if kind == "text":
        return "LONGTEXT" if dialect == "mysql" else "TEXT"
    return f"{'DECIMAL' if dialect == 'mysql' else 'NUMERIC'}({length},{decimals})"


def _literal(value: str | int) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def _default_sql(column: Column) -> str:
    kind = _parse_type(column.type)[0]
    if kind == "text":
        return ""  # MySQL cannot give TEXT/BLOB columns a default; Moodle never declares one
    if column.default is not None:
        return f" DEFAULT {_literal(column.default)}"
    if kind == "char" and column.notnull:
        return " DEFAULT ''"  # Moodle's $default_for_char
    return ""


def column_sql(db: peewee.Database, column: Column) -> str:
    dialect = dialect_of(db)
    name = quote_name(db, column.name)
    if column.name == "id":
        return {
            "sqlite": f"{name} INTEGER PRIMARY KEY",  # alias of the rowid: auto-assigned, no AUTOINCREMENT table
            "mysql": f"{name} BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
            "postgresql": f"{name} BIGSERIAL PRIMARY KEY",
        }[dialect]
    null_sql = " NOT NULL" if column.notnull else ""
    return f"{name} {column_type_sql(column, dialect)}{null_sql}{_default_sql(column)}"


def create_table_sql(db: peewee.Database, table: str, prefix: str = "mdl_", *, keys: bool = False) -> str:
    """CREATE TABLE of a Moodle table; ``keys`` (MariaDB/MySQL only): with its indexes inline, one
    DDL statement instead of one per index (each a metadata change of its own on InnoDB)."""
    spec = table_spec(table)
    parts = [column_sql(db, column) for column in spec.columns]
    if keys:
        parts += [
            f"{'UNIQUE KEY' if index.unique else 'KEY'} {quote_name(db, index.sql_name)} "
            f"({', '.join(quote_name(db, column) for column in index.columns)})"
            for index in index_definitions(table, prefix)
        ]
    columns = ",\n    ".join(parts)
    sql = f"CREATE TABLE {quote_name(db, prefix + table)} (\n    {columns}\n)"
    if dialect_of(db) == "mysql":
        sql += " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
    return sql


# --------------------------------------------------------------------------------------------------
# Indexes
# --------------------------------------------------------------------------------------------------


class IndexDef(NamedTuple):
    table: str
    sql_name: str  # without the table prefix
    columns: tuple[str, ...]
    unique: bool


def _moodle_object_name(table: str, columns: Sequence[str], suffix: str, prefix: str, used: set[str]) -> str:
    """Moodle's sql_generator::getNameForObject(): 4 letters per table word, 3 per column, + suffix.

    ``user_enrolments(enrolid, userid)`` becomes ``mdl_userenro_enruse_uix``. A clash (``firstname``
    and ``firstnamephonetic`` both give ``fir``) gets a counter before the suffix: ``mdl_user_fir2_ix``.
    """
    base = prefix + "".join(word[:4] for word in table.split("_")) + "_" + "".join(col[:3] for col in columns)
    max_base = _NAME_MAX_LENGTH - len(suffix) - 1
    name = f"{base[:max_base]}_{suffix}"
    counter = 1
    while name in used:
        counter += 1
        name = f"{base[: max_base - len(str(counter))]}{counter}_{suffix}"
    used.add(name)
    return name


@cache
def _index_definitions(prefix: str) -> tuple[IndexDef, ...]:
    """Every index of every known table, named once over the whole schema (index names are per schema
    in PostgreSQL), so a table's index names do not depend on which other tables are created."""
    used: set[str] = set()
    definitions = []
    for table, spec in TABLES.items():
        wanted = [(index.columns, index.unique) for index in spec.indexes]
        wanted += [((key.column,), False) for key in spec.foreign_keys]  # Moodle indexes every FK
        for columns, unique in wanted:
            name = _moodle_object_name(table, columns, "uix" if unique else "ix", prefix, used)
            definitions.append(IndexDef(table, name, columns, unique))
    return tuple(definitions)


def index_definitions(table: str, prefix: str = "mdl_") -> list[IndexDef]:
    table_spec(table)
    return [index for index in _index_definitions(prefix) if index.table == table]


def create_index_sql(db: peewee.Database, index: IndexDef, prefix: str = "mdl_") -> str:
    unique = "UNIQUE " if index.unique else ""
    columns = ", ".join(quote_name(db, column) for column in index.columns)
    return (
        f"CREATE {unique}INDEX {quote_name(db, index.sql_name)} "
        f"ON {quote_name(db, prefix + index.table)} ({columns})"
    )


# --------------------------------------------------------------------------------------------------
# Public DDL entry points
# --------------------------------------------------------------------------------------------------


def create_moodle_schema(
    db: peewee.Database, prefix: str = "mdl_", tables: list[str] | None = None, *, indexes: bool = True
) -> None:
    """Create the Moodle/IOMAD tables (all of ``TABLES`` by default) in an empty database.

    With ``indexes=False`` only the tables are created; bulk loaders call ``create_moodle_indexes``
    after loading, which is several times faster than maintaining the indexes row by row.
    """
    inline = indexes and dialect_of(db) == "mysql"
    for table in _selected_tables(tables):
        db.execute_sql(create_table_sql(db, table, prefix, keys=inline))
    if indexes and not inline:
        create_moodle_indexes(db, prefix, tables)


def create_moodle_indexes(db: peewee.Database, prefix: str = "mdl_", tables: list[str] | None = None) -> None:
    for table in _selected_tables(tables):
        for index in index_definitions(table, prefix):
            db.execute_sql(create_index_sql(db, index, prefix))


def drop_moodle_schema(db: peewee.Database, prefix: str = "mdl_", tables: list[str] | None = None) -> None:
    """Drop the tables (and with them their indexes and sequences) if they exist."""
    for table in _selected_tables(tables):
        db.execute_sql(f"DROP TABLE IF EXISTS {quote_name(db, prefix + table)}")


# --------------------------------------------------------------------------------------------------
# Bulk inserts
# --------------------------------------------------------------------------------------------------


def fill_value(column: Column) -> Any:
    """The value Moodle code would write when it does not set ``column`` itself.

    The column default if there is one, else '' for NOT NULL char/text and 0 for NOT NULL numbers,
    else NULL.
    """
    if column.default is not None:
        return column.default
    if not column.notnull:
        return None
    return "" if _parse_type(column.type)[0] in ("char", "text") else 0


def insert_rows(
    db: peewee.Database, table: str, rows: Iterable[dict[str, Any]], prefix: str = "mdl_"
) -> None:
    """Insert dict rows; NOT NULL columns the caller left out get their default ('' / 0 without one).

    Every row gets the same column list (the union of the keys given, in table order), so a column
    given in some rows only is filled in the others. Explicit ``id`` values are allowed, but then every
    row must have one.
    """
    rows = list(rows)
    if not rows:
        return
    spec = table_spec(table)
    given = set().union(*rows)
    unknown = given - {column.name for column in spec.columns}
    if unknown:
        raise ValueError(f"{table} has no column(s) {', '.join(sorted(unknown))}")
    if "id" in given and any("id" not in row for row in rows):
        raise ValueError(f"{table}: give an id in every row or in none")
    columns = [c for c in spec.columns if c.name in given or (c.notnull and c.name != "id")]
    names = [column.name for column in columns]
    fills = [fill_value(column) for column in columns]
    tuples = (tuple(row.get(name, fill) for name, fill in zip(names, fills, strict=True)) for row in rows)
    insert_tuples(db, table, names, tuples, prefix)


def insert_tuples(
    db: peewee.Database,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    prefix: str = "mdl_",
) -> int:
    """Fast path for the generator: insert tuples in ``columns`` order, streaming, chunked.

    NOT NULL columns without a usable database default that are missing from ``columns`` are filled
    with ``fill_value``. Returns the number of rows inserted. On PostgreSQL the id sequence is moved
    past the largest id when ids were given, so later inserts without an id still work.
    """
    spec = table_spec(table)
    known = {column.name: column for column in spec.columns}
    missing = [name for name in columns if name not in known]
    if missing:
        raise ValueError(f"{table} has no column(s) {', '.join(missing)}")
    extra = [
        c
        for c in spec.columns
        if c.name not in columns
        and c.name != "id"
        and c.notnull
        and c.default is None
        and _parse_type(c.type)[0] != "char"
    ]  # char columns have DEFAULT '' in our DDL
    all_columns = list(columns) + [column.name for column in extra]
    extra_values = tuple(fill_value(column) for column in extra)
    if extra_values:
        rows = (tuple(row) + extra_values for row in rows)

    dialect = dialect_of(db)
    quoted = ", ".join(quote_name(db, name) for name in all_columns)
    head = f"INSERT INTO {quote_name(db, prefix + table)} ({quoted}) VALUES "
    placeholders = "(" + ", ".join([db.param] * len(all_columns)) + ")"
    if dialect == "sqlite":
        count = _insert_sqlite(db, head + placeholders, rows)
    else:
        per_statement = _SERVER_ROWS_PER_STATEMENT
        if dialect == "postgresql":
            per_statement = max(1, min(per_statement, _POSTGRESQL_MAX_PARAMS // len(all_columns)))
        count = _insert_multirow(db, head, placeholders, rows, per_statement)
    if dialect == "postgresql" and "id" in columns and count:
        reset_id_sequence(db, table, prefix)
    return count


def _chunks(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _insert_sqlite(db: peewee.Database, sql: str, rows: Iterable[Sequence[Any]]) -> int:
    # executemany() on the raw sqlite3 cursor prepares the statement once; one transaction per chunk
    # keeps commits (fsyncs) rare without holding the whole table in memory.
    # peewee's exception wrapper turns sqlite3 errors into peewee's (IntegrityError...), as execute_sql does.
    count = 0
    for chunk in _chunks(rows, _SQLITE_ROWS_PER_TRANSACTION):
        with db.atomic(), peewee.__exception_wrapper__:
            db.cursor().executemany(sql, chunk)
        count += len(chunk)
    return count


def _insert_multirow(
    db: peewee.Database, head: str, placeholders: str, rows: Iterable[Sequence[Any]], per_statement: int
) -> int:
    # One multi-row VALUES statement per chunk: psycopg2's executemany() would send one statement
    # per row. Statements are grouped into transactions of about 20 chunks.
    count = 0
    full_sql = head + ", ".join([placeholders] * per_statement)
    for group in _chunks(_chunks(rows, per_statement), 20):
        with db.atomic():
            for chunk in group:
                sql = (
                    full_sql if len(chunk) == per_statement else head + ", ".join([placeholders] * len(chunk))
                )
                db.execute_sql(sql, [value for row in chunk for value in row])
                count += len(chunk)
    return count


def reset_id_sequence(db: peewee.Database, table: str, prefix: str = "mdl_") -> None:
    """PostgreSQL: make the BIGSERIAL continue after the largest id (explicit ids do not advance it)."""
    if dialect_of(db) != "postgresql":
        return
    qualified = quote_name(db, prefix + table)
    db.execute_sql(
        f"SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT MAX(id) FROM {qualified}))",
        (qualified,),
    )
