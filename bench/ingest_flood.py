"""The flood figure of :mod:`bench.ingest`: posts offered faster than clients can post.

With the listener running and no workers, the sandbox makes ``count`` posts in
one chat (``POST /sandbox/posts/flood``) at ``rate`` posts per second (``None``:
as fast as it can), while a :class:`FloodWatch` polls the length of the
``events`` queue. Once every post is there, or nothing more came for
:data:`QUIET` s after the flood ended, :func:`measure_flood` counts the
distinct flooded posts in the queue and reads the listener's counters from
its ``/metrics``.
"""

from __future__ import annotations

import base64
import json
import statistics
import threading
import time

import redis

from devtools.cluster import Cluster

#: Seconds with nothing new in the queue, after the flood, before the watch gives up.
QUIET = 10.0
POLL = 0.005
#: The issue's goal: events per second through the listener, per transport.
TARGET = 5000.0
#: The listener's counters shown per flood (``glipbot_listener_<name>_total``).
COUNTERS = {"full polls": "pubnub_full_polls", "backfilled": "backfill_recovered"}
#: Longest wait for the queue after the flood, whatever the quiet rule says.
MAX_WAIT = 600.0


class FloodWatch(threading.Thread):
    """Polls ``LLEN events`` until ``expected`` are there, or :data:`QUIET` s of nothing
    after :meth:`flood_ended`; notes when the length last grew."""

    def __init__(self, client: redis.Redis, expected: int, quiet: float = QUIET) -> None:
        super().__init__(daemon=True)
        self._redis = client
        self._expected = expected
        self._quiet = quiet
        self._ended_at: float | None = None
        self._stop_asked = threading.Event()
        self.last_seen: float | None = None
        self.done = threading.Event()

    def flood_ended(self) -> None:
        """The flood call returned: from now on, quiet ends the watch."""
        self._ended_at = time.time()

    def run(self) -> None:
        seen = 0
        while not self._stop_asked.is_set() and seen < self._expected:
            length = int(self._redis.llen("events"))
            now = time.time()
            if length > seen:
                seen, self.last_seen = length, now
            elif self._quiet_for(now) >= self._quiet:
                break
            time.sleep(POLL)
        self.done.set()

    def stop(self) -> None:
        self._stop_asked.set()

    def _quiet_for(self, now: float) -> float:
        """Seconds since the flood ended or the queue last grew, whichever is later (0 before
        the flood ended)."""
        if self._ended_at is None:
            return 0.0
        return now - max(self._ended_at, self.last_seen or 0.0)


def measure_flood(
    cluster: Cluster, chat_id: str, author: str, count: int, rate: float | None
) -> dict[str, float]:
    """One flood into ``chat_id`` by ``author``: offered/s (as the sandbox made them),
    ingest/s (first post to last event queued), lost, and the listener's counters."""
    cluster.redis.delete("events")
    listener = cluster.listeners[0]
    before = listener_counters(listener.metrics())
    watch = FloodWatch(cluster.redis, count)
    watch.start()
    started = time.time()
    try:
        answer = cluster.sandbox.control.flood(chat_id, author, count, rate=rate)
    finally:
        watch.flood_ended()
    if answer["created"] != count:
        watch.stop()
        raise RuntimeError(f"the sandbox made {answer['created']}/{count} posts")
    if not watch.done.wait(timeout=MAX_WAIT):
        watch.stop()
        raise RuntimeError(f"the events queue was still growing after {MAX_WAIT:g} s")
    after = listener_counters(listener.metrics())
    queued = _flooded_posts_queued(
        cluster.redis, int(answer["firstPostId"]), int(answer["lastPostId"])
    )
    ingest_seconds = (watch.last_seen or started) - started
    return {
        "offered/s": count / answer["seconds"] if answer["seconds"] else float("inf"),
        "ingest/s": queued / ingest_seconds if ingest_seconds > 0 else 0.0,
        "lost": float(count - queued),
        **{label: after[label] - before[label] for label in COUNTERS},
    }


def listener_counters(metrics: str) -> dict[str, float]:
    """:data:`COUNTERS` read from the listener's ``/metrics`` text (summed over labels)."""
    found = dict.fromkeys(COUNTERS, 0.0)
    for label, name in COUNTERS.items():
        series = f"glipbot_listener_{name}_total"
        for line in metrics.splitlines():
            if line.startswith(series) and line[len(series) : len(series) + 1] in ("{", " "):
                found[label] += float(line.rsplit(" ", 1)[1])
    return found


def _flooded_posts_queued(client: redis.Redis, first: int, last: int) -> int:
    """How many distinct posts with ids ``first..last`` have a PostAdded in the queue."""
    ids = set()
    for raw in client.lrange("events", 0, -1):
        body = json.loads(base64.b64decode(json.loads(raw)["body"]))
        event = body[1]["envelope"]["body"]
        if event.get("eventType") == "PostAdded" and first <= int(event["id"]) <= last:
            ids.add(event["id"])
    return len(ids)


def rate_label(rate: float | None) -> str:
    """How a flood's offered rate is printed: ``5000/s``, or ``max``."""
    return "max" if rate is None else f"{rate:g}/s"


def verdict(transport: str, runs: dict[str, list[dict[str, float]]]) -> str:
    """Whether ``transport`` met :data:`TARGET`: at some offered rate, the median ingest/s
    reaches it and no run lost an event. ``runs`` maps rate labels to each run's figures;
    the rate shown is the best one that met the target, else the best median ingest/s."""

    def median(figures: list[dict[str, float]], name: str) -> float:
        return statistics.median(r[name] for r in figures)

    def met(figures: list[dict[str, float]]) -> bool:
        return median(figures, "ingest/s") >= TARGET and max(r["lost"] for r in figures) == 0

    label, figures = max(runs.items(), key=lambda item: (met(item[1]), median(item[1], "ingest/s")))
    return (
        f"{transport} {'met' if met(figures) else 'not met'} "
        f"(offered at {label}: median {median(figures, 'offered/s'):.0f}/s offered, "
        f"{median(figures, 'ingest/s'):.0f}/s ingested, "
        f"at most {max(r['lost'] for r in figures):.0f} lost)"
    )
