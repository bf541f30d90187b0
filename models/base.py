"""Base classes: every table name goes through the prefix; Moodle's tables are read-only to us."""

from __future__ import annotations

import peewee

from .db import database


class MoodleReadOnlyError(RuntimeError):
    """Raised if code tries to write a Moodle/IOMAD table: the product never does."""


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class MoodleModel(BaseModel):
    """A Moodle core or IOMAD table. Only the columns the product reads are mapped.

    Moodle stores times as integer epoch seconds with 0 meaning "never"; they stay plain integers
    here (peewee's TimestampField would turn 0 into 1970-01-01).
    """

    @classmethod
    def _refuse(cls, *args, **kwargs):
        raise MoodleReadOnlyError(f"{cls._meta.table_name} belongs to Moodle and is read-only for ALX")

    insert = insert_many = insert_from = replace = replace_many = update = delete = _refuse

    def save(self, *args, **kwargs):
        self._refuse()

    def delete_instance(self, *args, **kwargs):
        self._refuse()
