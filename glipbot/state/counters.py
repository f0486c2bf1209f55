"""Cluster-wide counters of the workers, in one Redis hash, and each bot's share.

Each worker process counts what it did (replies posted, events handled,
dead letters by reason, ...) with ``HINCRBY``, so the ops status report and
a monitoring scrape see the sum over every machine. Where a count belongs to
one bot installation (``replies_posted``, ``events_handled``, ...) the caller
names the bot, and the count is also added to that bot's own hash
(:meth:`Counters.of_bot`), when the counters were built with ``bot_key``.

A task counts within :meth:`Counters.batched`: what it adds is written in
one round trip when it ends, not one per counter.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Callable, Iterator

import redis

from glipbot import log_events as ev
from glipbot.logging import get_logger

_log = get_logger(__name__)


class Counters:
    """Named counters that every worker process adds to."""

    def __init__(
        self, client: redis.Redis, key: str, *, bot_key: Callable[[str], str] | None = None
    ) -> None:
        """``key``: the cluster's hash; ``bot_key(bot_id)``: one bot's (``Keys.bot_counters``)."""
        self._redis = client
        self.key = key
        self._bot_key = bot_key
        self._local = threading.local()

    def incr(self, name: str, amount: int = 1, *, bot: str | None = None) -> None:
        """Add ``amount`` to counter ``name``, and to ``bot``'s share of it when named."""
        adds = [(self.key, name)]
        if bot is not None and self._bot_key is not None:
            adds.append((self._bot_key(bot), name))
        pending: collections.Counter[tuple[str, str]] | None = getattr(self._local, "pending", None)
        if pending is None:
            self._write(collections.Counter(dict.fromkeys(adds, amount)))
            return
        for add in adds:
            pending[add] += amount

    @contextlib.contextmanager
    def batched(self) -> Iterator[None]:
        """Within it, this thread's increments are summed and written in one round trip
        when it ends (the outermost one, when nested).

        A write that fails is logged (``counters_lost``), not raised: by then the
        block's work is done, or failed with an error of its own.
        """
        if getattr(self._local, "pending", None) is not None:
            yield
            return
        pending: collections.Counter[tuple[str, str]] = collections.Counter()
        self._local.pending = pending
        try:
            yield
        finally:
            self._local.pending = None
            try:
                self._write(pending)
            except redis.RedisError as exc:
                _log.warning(ev.COUNTERS_LOST, error=str(exc), counters=len(pending))

    def _write(self, adds: collections.Counter[tuple[str, str]]) -> None:
        if not adds:
            return
        if len(adds) == 1:
            (((key, name), amount),) = adds.items()
            self._redis.hincrby(key, name, amount)
            return
        with self._redis.pipeline(transaction=False) as pipe:
            for (key, name), amount in adds.items():
                pipe.hincrby(key, name, amount)
            pipe.execute()

    def all(self) -> dict[str, int]:
        """Every counter and its value."""
        return {str(k): int(v) for k, v in self._redis.hgetall(self.key).items()}

    def of_bot(self, bot: str) -> dict[str, int]:
        """``bot``'s share of the counters (empty when not kept per bot)."""
        if self._bot_key is None:
            return {}
        return {str(k): int(v) for k, v in self._redis.hgetall(self._bot_key(bot)).items()}
