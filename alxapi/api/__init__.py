"""The API's request pipeline, free of HTTP (the Falcon resources in :mod:`alxapi.http` call it):
``pipeline`` (auth → rate limit → pass → cache → query → body), ``feed`` (passes, sync modes and
pages over the reporting table), ``render`` (Moodle JSON/XML, v1 JSON/CSV), ``cursors``, ``cache``,
``requestlog`` and ``errors`` (Moodle's error codes and their HTTP statuses)."""
