"""IOMAD tables the product reads (IOMAD 4.4.5, local/iomad/db/install.xml)."""

from __future__ import annotations

from peewee import BigIntegerField, CharField, IntegerField

from .base import MoodleModel
from .db import prefixed


class Company(MoodleModel):
    id = BigIntegerField(primary_key=True)
    name = CharField(max_length=50)
    shortname = CharField(max_length=25)
    suspended = IntegerField()
    parentid = BigIntegerField()

    class Meta:
        table_function = prefixed("company")


class CompanyUser(MoodleModel):
    """One row per (company, user, department): a user may have several rows per company."""

    id = BigIntegerField(primary_key=True)
    companyid = BigIntegerField()
    userid = BigIntegerField()
    managertype = IntegerField()
    departmentid = BigIntegerField()
    suspended = IntegerField()

    class Meta:
        table_function = prefixed("company_users")


class CompanyCourse(MoodleModel):
    id = BigIntegerField(primary_key=True)
    companyid = BigIntegerField()
    courseid = BigIntegerField()
    departmentid = BigIntegerField()

    class Meta:
        table_function = prefixed("company_course")


REQUIRED = [Company, CompanyUser, CompanyCourse]
