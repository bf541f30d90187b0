"""ALX Report core services, HTTP API, worker and CLI."""
