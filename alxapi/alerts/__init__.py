"""Alerts (SPEC §5): what kinds there are (``kinds``), their lifecycle (``lifecycle``: raise, repeat,
cool down, resolve), the rules that find them (``rules``) and their delivery by e-mail and webhook
(``delivery``).

Import the submodules themselves; this package imports nothing, so that the configuration can read
``alerts.kinds`` without pulling in the database models.
"""
