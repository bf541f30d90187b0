"""Exports: a company's reporting rows as its API clients see them (``company``), written by the
file writers of ``writers`` (CSV, JSON, XLSX; all-or-nothing files)."""
