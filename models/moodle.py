"""Moodle core tables the product reads (Moodle 4.4/5.0 column names; see lib/db/install.xml)."""

from __future__ import annotations

from peewee import BigIntegerField, CharField, IntegerField, TextField

from .base import MoodleModel
from .db import prefixed

# Context level of a course (lib/accesslib.php CONTEXT_COURSE).
CONTEXT_COURSE = 50


class User(MoodleModel):
    id = BigIntegerField(primary_key=True)
    auth = CharField(max_length=20)
    confirmed = IntegerField()
    deleted = IntegerField()
    suspended = IntegerField()
    mnethostid = BigIntegerField()
    username = CharField(max_length=100)
    firstname = CharField(max_length=100)
    lastname = CharField(max_length=100)
    email = CharField(max_length=100)
    timecreated = BigIntegerField()
    timemodified = BigIntegerField()

    class Meta:
        table_function = prefixed("user")


class Course(MoodleModel):
    id = BigIntegerField(primary_key=True)
    category = BigIntegerField()
    fullname = CharField(max_length=1333)
    shortname = CharField(max_length=255)
    visible = IntegerField()
    enablecompletion = IntegerField()
    timecreated = BigIntegerField()
    timemodified = BigIntegerField()

    class Meta:
        table_function = prefixed("course")


class CourseModule(MoodleModel):
    id = BigIntegerField(primary_key=True)
    course = BigIntegerField()
    module = BigIntegerField()
    instance = BigIntegerField()
    visible = IntegerField()
    completion = IntegerField()
    deletioninprogress = IntegerField()
    added = BigIntegerField()

    class Meta:
        table_function = prefixed("course_modules")


class CourseModuleCompletion(MoodleModel):
    id = BigIntegerField(primary_key=True)
    coursemoduleid = BigIntegerField()
    userid = BigIntegerField()
    completionstate = IntegerField()
    timemodified = BigIntegerField()

    class Meta:
        table_function = prefixed("course_modules_completion")


class CourseCompletion(MoodleModel):
    id = BigIntegerField(primary_key=True)
    userid = BigIntegerField()
    course = BigIntegerField()
    timeenrolled = BigIntegerField()
    timestarted = BigIntegerField()
    timecompleted = BigIntegerField(null=True)  # NULL means "not complete"

    class Meta:
        table_function = prefixed("course_completions")


class Enrol(MoodleModel):
    id = BigIntegerField(primary_key=True)
    enrol = CharField(max_length=20)
    status = BigIntegerField()  # 0 enabled, 1 disabled
    courseid = BigIntegerField()
    timecreated = BigIntegerField()
    timemodified = BigIntegerField()

    class Meta:
        table_function = prefixed("enrol")


class UserEnrolment(MoodleModel):
    id = BigIntegerField(primary_key=True)
    status = BigIntegerField()  # 0 active, 1 suspended
    enrolid = BigIntegerField()
    userid = BigIntegerField()
    timestart = BigIntegerField()
    timeend = BigIntegerField()
    timecreated = BigIntegerField()
    timemodified = BigIntegerField()

    class Meta:
        table_function = prefixed("user_enrolments")


class Context(MoodleModel):
    id = BigIntegerField(primary_key=True)
    contextlevel = BigIntegerField()
    instanceid = BigIntegerField()

    class Meta:
        table_function = prefixed("context")


class Role(MoodleModel):
    id = BigIntegerField(primary_key=True)
    name = CharField(max_length=255)
    shortname = CharField(max_length=100)
    archetype = CharField(max_length=30)

    class Meta:
        table_function = prefixed("role")


class RoleAssignment(MoodleModel):
    id = BigIntegerField(primary_key=True)
    roleid = BigIntegerField()
    contextid = BigIntegerField()
    userid = BigIntegerField()
    timemodified = BigIntegerField()

    class Meta:
        table_function = prefixed("role_assignments")


class ExternalService(MoodleModel):
    id = BigIntegerField(primary_key=True)
    name = CharField(max_length=200)
    enabled = IntegerField()
    shortname = CharField(max_length=255, null=True)
    restrictedusers = IntegerField()

    class Meta:
        table_function = prefixed("external_services")


class ExternalToken(MoodleModel):
    id = BigIntegerField(primary_key=True)
    token = CharField(max_length=128)
    tokentype = IntegerField()
    userid = BigIntegerField()
    externalserviceid = BigIntegerField()
    iprestriction = CharField(max_length=255, null=True)
    validuntil = BigIntegerField(null=True)
    timecreated = BigIntegerField()
    lastaccess = BigIntegerField(null=True)
    name = CharField(max_length=255, null=True)

    class Meta:
        table_function = prefixed("external_tokens")


class ExternalServiceUser(MoodleModel):
    id = BigIntegerField(primary_key=True)
    externalserviceid = BigIntegerField()
    userid = BigIntegerField()
    iprestriction = CharField(max_length=255, null=True)
    validuntil = BigIntegerField(null=True)

    class Meta:
        table_function = prefixed("external_services_users")


# Tables `alx check` requires (external_services_users is optional, as in Moodle).
REQUIRED = [
    User,
    Course,
    CourseModule,
    CourseModuleCompletion,
    CourseCompletion,
    Enrol,
    UserEnrolment,
    Context,
    Role,
    RoleAssignment,
    ExternalService,
    ExternalToken,
]
OPTIONAL = [ExternalServiceUser]


class LogstoreStandardLog(MoodleModel):
    """Moodle's standard log (admin/tool/log/store/standard): the source of time spent (SPEC §8.2)."""

    id = BigIntegerField(primary_key=True)
    eventname = CharField(max_length=255)
    component = CharField(max_length=100)
    action = CharField(max_length=100)
    target = CharField(max_length=100)
    crud = CharField(max_length=1)
    edulevel = IntegerField()
    contextinstanceid = BigIntegerField()
    userid = BigIntegerField()
    courseid = BigIntegerField(null=True)
    relateduserid = BigIntegerField(null=True)
    anonymous = IntegerField()
    timecreated = BigIntegerField()
    origin = CharField(max_length=10, null=True)
    realuserid = BigIntegerField(null=True)

    class Meta:
        table_function = prefixed("logstore_standard_log")


class ConfigPlugin(MoodleModel):
    """Moodle's plugin settings; the product reads which log stores are enabled (tool_log)."""

    id = BigIntegerField(primary_key=True)
    plugin = CharField(max_length=100)
    name = CharField(max_length=100)
    value = TextField(null=True)

    class Meta:
        table_function = prefixed("config_plugins")


class UserLastaccess(MoodleModel):
    """A user's last access to a course (SPEC §8.3 days_since_access)."""

    id = BigIntegerField(primary_key=True)
    userid = BigIntegerField()
    courseid = BigIntegerField()
    timeaccess = BigIntegerField()

    class Meta:
        table_function = prefixed("user_lastaccess")
