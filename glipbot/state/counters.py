"""Cluster-wide counters of the workers, in one Redis hash.

Each worker process counts what it did (replies posted, events handled,
dead letters by reason, ...) with ``HINCRBY``, so the ops status report and
a monitoring scrape see the sum over every machine.
"""

from __future__ import annotations

import redis


class Counters:
    """Named counters that every worker process adds to."""

    def __init__(self, client: redis.Redis, key: str) -> None:
        self._redis = client
        self.key = key

    def incr(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to counter ``name``."""
        self._redis.hincrby(self.key, name, amount)

    def all(self) -> dict[str, int]:
        """Every counter and its value."""
        return {str(k): int(v) for k, v in self._redis.hgetall(self.key).items()}
