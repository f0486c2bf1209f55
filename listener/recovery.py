"""After a window of deafness, put what the platform published back on the event path.

The leader calls :meth:`Recovery.after` when it adopts a subscription that
follows such a window (:func:`listener.resume.deaf_since`). In the reign's
background, :class:`~listener.backfill.Backfill` reads the chats through the
REST API (every call under the cluster's rate limiter), and the notifications
it recovers join the transport's in ingest, which de-duplicates them. One
run at a time; a later window while one runs widens the next run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import redis.asyncio as aioredis

from glipbot import log_events as ev
from glipbot.logging import get_logger
from glipbot.state.keys import Keys
from listener.backfill import Backfill, Found
from listener.ingest import Ingest
from listener.metrics import Metrics

log = get_logger(__name__)


class Recovery:
    """Runs backfill for one reign; its task is cancelled with the reign."""

    def __init__(
        self,
        backfill: Backfill,
        client: aioredis.Redis,
        keys: Keys,
        metrics: Metrics,
        ingest: Ingest,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._backfill = backfill
        self._redis = client
        self._keys = keys
        self._metrics = metrics
        self._ingest = ingest
        self._clock = clock
        self._pending: float | None = None
        self.task: asyncio.Task[None] | None = None

    def after(self, since: float) -> None:
        """Recover what was published since ``since`` (epoch seconds), in the background."""
        self._pending = since if self._pending is None else min(self._pending, since)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run(), name="backfill")

    async def _run(self) -> None:
        while self._pending is not None:
            since, self._pending = self._pending, None
            try:
                found = await self.run_once(since)
            except Exception as exc:  # the platform or Redis failed: the next window retries
                self._metrics.inc("backfill_failures")
                log.error(
                    ev.BACKFILL_FAILED, since=since, error=type(exc).__name__, detail=str(exc)
                )
                continue
            self._report(since, found)

    async def run_once(self, since: float) -> Found:
        """Read the chats and hand what was missed to ingest; return what was found."""
        rows = await self._redis.zrange(self._keys.listener_chats, 0, -1, withscores=True)
        seen = {
            (row[0].decode() if isinstance(row[0], bytes) else str(row[0])): float(row[1])
            for row in rows
        }
        found = await asyncio.to_thread(self._backfill.missed, seen, since, self._clock())
        self._ingest.submit_recovered(found.envelopes)
        return found

    def _report(self, since: float, found: Found) -> None:
        self._metrics.inc("backfill_runs")
        self._metrics.inc("backfill_recovered", found.posts, kind="post")
        self._metrics.inc("backfill_recovered", found.groups, kind="group")
        self._metrics.inc("backfill_truncated", found.truncated)
        (log.warning if found.envelopes or found.truncated else log.info)(
            ev.BACKFILL_DONE,
            since=since,
            chats=found.chats,
            pages=found.pages,
            posts=found.posts,
            groups=found.groups,
            truncated=found.truncated,
        )
