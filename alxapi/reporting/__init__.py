"""The reporting table: the §3.2 rules as set-based SQL (``rules``) and the sync engine (``sync``)."""
