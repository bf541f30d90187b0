"""`alx worker`: the scheduled jobs (``jobs``) and the loop that runs them (``scheduler``)."""

from .scheduler import JobOutcome, Worker

__all__ = ["JobOutcome", "Worker"]
