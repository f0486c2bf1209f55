"""A leader deposed while a task of its reign swallows the cancel (as redis-py's
``wait_for`` does on Python 3.11) steps down within its bounds, stands by, and leads
again as soon as the lease is free; a task that never stops is abandoned, logged and
counted, and does not hold the loop.

Real Redis (the lease and its scripts), real ingest and subscription keeper; fakes
for the platform's subscription API, the transport and the ops inbox (the task that
misbehaves).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio as aioredis
from structlog.testing import capture_logs

from glipbot.settings import Settings
from glipbot.state.deadletters import DeadLetters
from glipbot.state.keys import Keys
from listener.enqueue import make_celery_app
from listener.leadership import ACQUIRING, LEADING, STANDBY, Bounds, Leadership, Reign
from listener.lease import Lease
from listener.metrics import Metrics
from listener.transports import TransportStats
from listener.watchdog import Heartbeat

KEYS = Keys("t:")
TTL = 0.6
#: Small bounds, so that a test takes a second; what is tested is that each is kept.
BOUNDS = Bounds(
    redis=2.0, standby_poll=TTL / 5, lead_beat=0.1, transport_stop=1.0, cancel=1.0, drain=1.0
)
#: Only guards against a hang (the bug this file is about): far above every bound.
HANG = 15.0


class FakeApi:
    """The platform's subscription endpoints, in memory."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.subs: dict[str, dict[str, Any]] = {}

    def create_subscription(
        self, event_filters: list[str], expires_in: int | None = None
    ) -> dict[str, Any]:
        sub_id = f"s{next(self._ids)}"
        self.subs[sub_id] = {
            "id": sub_id,
            "status": "Active",
            "expiresIn": 900,
            "deliveryMode": {
                "address": f"ch-{sub_id}",
                "subscriberKey": "sub-key",
                "encryptionKey": "a2V5a2V5a2V5a2V5a2V5aw==",
            },
        }
        return self.subs[sub_id]

    def get_subscription(self, subscription_id: str) -> dict[str, Any]:
        return self.subs[subscription_id]

    def list_subscriptions(self) -> list[dict[str, Any]]:
        return list(self.subs.values())

    def renew_subscription(self, subscription_id: str) -> dict[str, Any]:
        return self.subs[subscription_id]

    def delete_subscription(self, subscription_id: str) -> None:
        self.subs.pop(subscription_id, None)


class FakeTransport:
    def __init__(self) -> None:
        self.stats = TransportStats()
        self.channel: str | None = None

    async def start(self, address: str, subscriber_key: str, resume_timetoken: int | None) -> None:
        self.channel = address

    async def move(self, address: str, subscriber_key: str, resume_timetoken: int | None) -> None:
        self.channel = address

    async def stop(self) -> None:
        self.channel = None


class SwallowingInbox:
    """An ops inbox whose task swallows ``swallow`` cancels (all: -1), then waits for ever.

    What the ingest task did in the fault run: redis-py's ``wait_for`` dropped the
    cancel as a send completed, and the task went back to waiting for messages.
    """

    def __init__(self, swallow: int) -> None:
        self.swallow = swallow
        self.swallowed = 0
        self.runs = 0
        self.release = asyncio.Event()

    async def run(self) -> None:
        self.runs += 1
        while not self.release.is_set():
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                if self.swallowed == self.swallow:
                    raise
                self.swallowed += 1


class Harness:
    def __init__(self, redis_url: str, inbox: SwallowingInbox) -> None:
        self.redis_url = redis_url
        self.inbox = inbox
        self.client = aioredis.Redis.from_url(redis_url)
        self.sync = redis.Redis.from_url(redis_url)
        self.metrics = Metrics()
        self.heartbeat = Heartbeat("leadership")
        self.lease = Lease(self.client, KEYS.listener_lease, KEYS.listener_fence, "a", TTL)
        self.reign = Reign()
        self.transports: list[FakeTransport] = []
        self.leadership = Leadership(
            Settings(lease_ttl=TTL),
            client=self.client,
            keys=KEYS,
            lease=self.lease,
            metrics=self.metrics,
            api=FakeApi(),
            dead_letters=DeadLetters(self.sync, KEYS.dead_letters),
            celery_app=make_celery_app(redis_url),
            transport_factory=self._transport,
            inbox=inbox,  # type: ignore[arg-type]
            reign=self.reign,
            on_redis=lambda _ok: None,
            heartbeat=self.heartbeat,
            bounds=BOUNDS,
        )

    def _transport(self, _deliver: Any) -> FakeTransport:
        self.transports.append(FakeTransport())
        return self.transports[-1]

    def leading(self) -> bool:
        keeper = self.reign.keeper
        return bool(self.lease.held and keeper and keeper.live() and self.transports[-1].channel)

    async def until(self, predicate: Callable[[], bool], timeout: float = HANG) -> None:
        async def poll() -> None:
            while not predicate():
                await asyncio.sleep(0.02)

        await asyncio.wait_for(poll(), timeout)

    def depose(self, seconds: float) -> None:
        """Another listener takes the lease for ``seconds`` (the fault run's new leader)."""
        self.sync.set(KEYS.listener_lease, "99:b", px=int(seconds * 1000))


def scenario(redis_url: str, swallow: int) -> tuple[Harness, list[dict[str, Any]], list[str]]:
    """Lead, be deposed for 3 TTLs, stand by, lead again, shut down; the steps seen."""
    steps: list[str] = []

    async def main() -> Harness:
        h = Harness(redis_url, SwallowingInbox(swallow))
        stop = asyncio.Event()
        run = asyncio.create_task(h.leadership.run(stop))
        try:
            await h.until(h.leading)
            assert h.inbox.runs == 1

            h.depose(3 * TTL)
            await h.until(lambda: h.heartbeat.step in (STANDBY, ACQUIRING))
            steps.append(str(h.heartbeat.step))
            assert h.lease.held is False
            assert h.reign.keeper is None  # stood down: status reports a standby

            await h.until(lambda: h.lease.held and h.inbox.runs == 2 and h.leading())
            steps.append(str(h.heartbeat.step))
        finally:
            stop.set()
            try:
                await asyncio.wait_for(run, HANG)
            finally:
                h.inbox.release.set()  # let the abandoned tasks end with the test
                await h.client.aclose()
        return h

    with capture_logs() as logs:
        harness = asyncio.run(main())
    return harness, logs, steps


def test_a_deposed_leader_whose_task_swallows_the_cancel_stands_by_and_leads_again(
    redis_url: str,
) -> None:
    harness, logs, steps = scenario(redis_url, swallow=1)

    assert harness.inbox.swallowed == 1  # the fault happened: one cancel was lost
    assert steps[0] in (STANDBY, ACQUIRING)
    assert steps[1] == LEADING
    metrics = harness.metrics
    assert (metrics.get("lease_acquired"), metrics.get("lease_lost")) == (2, 1)
    assert metrics.get("tasks_abandoned") == 0  # the second cancel stopped it
    assert harness.lease.fence is None  # released at shutdown
    assert harness.sync.get(KEYS.listener_lease) is None
    assert harness.sync.get(KEYS.listener_fence) == b"2"  # the fence grew: a new reign
    events = [entry["event"] for entry in logs]
    assert events.count("lease_acquired") == 2
    assert events.count("lease_lost_stopped_consuming") == 1
    assert "listener_task_abandoned" not in events


def test_a_task_that_never_stops_is_abandoned_logged_and_counted_and_the_loop_goes_on(
    redis_url: str,
) -> None:
    harness, logs, steps = scenario(redis_url, swallow=-1)

    assert harness.inbox.swallowed >= 2  # it kept ignoring the cancels it was sent
    assert steps[1] == LEADING  # led again regardless
    # Given up on twice: when deposed, and at shutdown, which still released the lease.
    assert harness.metrics.get("tasks_abandoned", task="commands") == 2
    abandoned = [entry for entry in logs if entry["event"] == "listener_task_abandoned"]
    assert [(a["task"], a["log_level"]) for a in abandoned] == [("commands", "error")] * 2
    assert harness.metrics.get("lease_acquired") == 2
    assert harness.sync.get(KEYS.listener_lease) is None
