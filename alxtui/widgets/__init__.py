"""Reusable console widgets: dialogs, form helpers, tables, cards and charts."""
