"""Scheduled e-mailed reports (SPEC §8.6): occurrences in local time, the store, the runs."""
