"""Operators' saved SQL reports (SPEC §8.5): validation by a SQL parser, storage, read-only runs."""
