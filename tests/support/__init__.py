"""Helpers shared by the tests: building Moodle sites (``moodle_builder``), private database servers
(``dbservers``), and per-front-end helpers (``api_helpers``, ``cli_helpers``, ``sync_helpers``,
``tui_helpers``, ``tui_pilot``)."""
