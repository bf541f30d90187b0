"""The Falcon WSGI app: Moodle-compatible endpoint, REST v1, health, metrics, OpenAPI."""
