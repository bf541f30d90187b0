"""What every screen needs from the outside world: config, database, clock, operator name, API address."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import peewee

from alxapi import clock
from alxapi.audit import current_actor
from alxapi.config import Config
from alxapi.ops.diagnostics import local_api_url


@dataclass
class ConsoleContext:
    config: Config
    db: peewee.Database
    now: Callable[[], int] = clock.now
    actor: str = field(default_factory=current_actor)
    # Base URL of the API this console watches (for Diagnostics' reachability check); None = derived
    # from the config's api_host/api_port.
    api_url: str | None = None

    @contextlib.contextmanager
    def unit(self) -> Iterator[peewee.Database]:
        """One unit of work on the database, from a worker thread (one connection per thread)."""
        with self.db.connection_context():
            yield self.db

    @property
    def api_base(self) -> str:
        if self.api_url:
            return self.api_url.rstrip("/")
        return local_api_url(self.config.api_host, self.config.api_port)
