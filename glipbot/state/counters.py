"""Cluster-wide counters of the workers, in one Redis hash, and each bot's share.

Each worker process counts what it did (replies posted, events handled,
dead letters by reason, ...) with ``HINCRBY``, so the ops status report and
a monitoring scrape see the sum over every machine. Where a count belongs to
one bot installation (``replies_posted``, ``events_handled``, ...) the caller
names the bot, and the count is also added to that bot's own hash
(:meth:`Counters.of_bot`), when the counters were built with ``bot_key``.
"""

from __future__ import annotations

from collections.abc import Callable

import redis


class Counters:
    """Named counters that every worker process adds to."""

    def __init__(
        self, client: redis.Redis, key: str, *, bot_key: Callable[[str], str] | None = None
    ) -> None:
        """``key``: the cluster's hash; ``bot_key(bot_id)``: one bot's (``Keys.bot_counters``)."""
        self._redis = client
        self.key = key
        self._bot_key = bot_key

    def incr(self, name: str, amount: int = 1, *, bot: str | None = None) -> None:
        """Add ``amount`` to counter ``name``, and to ``bot``'s share of it when named."""
        if bot is None or self._bot_key is None:
            self._redis.hincrby(self.key, name, amount)
            return
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(self.key, name, amount)
            pipe.hincrby(self._bot_key(bot), name, amount)
            pipe.execute()

    def all(self) -> dict[str, int]:
        """Every counter and its value."""
        return {str(k): int(v) for k, v in self._redis.hgetall(self.key).items()}

    def of_bot(self, bot: str) -> dict[str, int]:
        """``bot``'s share of the counters (empty when not kept per bot)."""
        if self._bot_key is None:
            return {}
        return {str(k): int(v) for k, v in self._redis.hgetall(self._bot_key(bot)).items()}
