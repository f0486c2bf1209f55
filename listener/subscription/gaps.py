"""The record of each window during which no subscription existed.

What a gap costs: a platform that has no subscription publishes nothing, so
events of that window are lost for good (they never enter an event's
path); PubNub's catch-up only replays messages that were published on a
channel. The keeper reports each gap here (``subscription_gaps``,
``subscription_gap_seconds``, a ``subscription_gap`` log event and a record
in ``listener:gaps``); its window runs from the last time the platform
confirmed the old subscription to the creation of the new one, so it is an
upper bound.
"""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from glipbot import log_events as ev
from glipbot.logging import get_logger
from glipbot.state.keys import Keys
from listener.metrics import Metrics

log = get_logger(__name__)

#: The newest gap records kept in Redis.
MAX_GAPS_KEPT = 1000


class GapLog:
    """Counts, logs and keeps in Redis each gap the keeper reports."""

    def __init__(self, client: aioredis.Redis, keys: Keys, metrics: Metrics) -> None:
        self._redis = client
        self._key = keys.subscription_gaps
        self._metrics = metrics

    async def record(self, start: float, end: float, *, old: str | None, new: str) -> None:
        """Report that no subscription existed from ``start`` to ``end``."""
        gap = {
            "start": start,
            "end": end,
            "seconds": round(end - start, 3),
            "old": old,
            "new": new,
        }
        self._metrics.inc("subscription_gaps")
        # A counter never goes down, even if the wall clock stepped back meanwhile.
        self._metrics.inc("subscription_gap_seconds", max(0.0, end - start))
        log.error(ev.SUBSCRIPTION_GAP, subscription_id=new, **gap)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.lpush(self._key, json.dumps(gap))
            pipe.ltrim(self._key, 0, MAX_GAPS_KEPT - 1)
            await pipe.execute()
