"""A PubNub answer that comes full is never silent: counted, and the gap handed to recovery.

The sandbox's PubNub keeps the last 100 messages of a channel and answers at
most 100 at a time, as PubNub does. First the transport alone (the real SDK
through :class:`~listener.transports.pubnub.PubNubTransport`): 150 messages
published while nobody listens; resuming from before them it gets the last
100 in one full answer, and says since when to recover. Then the whole
listener: 150 posts while delivery is paused, and backfill brings the 50
that PubNub dropped, so all 150 reach the queue once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from devtools.sandbox_process import SandboxProcess
from glipbot.settings import Settings
from listener.metrics import Metrics
from listener.transports.pubnub import TIMETOKENS_PER_SECOND, PubNubTransport
from sandbox.config import SUBSCRIBER_KEY
from tests.integration.listener.listener_support import posts_in_queue, wait_for

pytestmark = pytest.mark.integration

CHANNEL = "overflow-test-channel"
POSTS = 150
LIFTED = ("Light", "Medium", "Heavy", "Auth")


@pytest.fixture
def sandbox() -> Iterator[SandboxProcess]:
    """Rate limits lifted: John posts 150 times in a few seconds."""
    args = [arg for group in LIFTED for arg in ("--rate-limit", f"{group}=100000")]
    with SandboxProcess(*args) as sb:
        yield sb


def test_a_full_answer_is_counted_and_recovery_asked_from_the_cursor_before_it(
    sandbox: SandboxProcess,
) -> None:
    sandbox.control.reset()
    resume = int((time.time() - 1) * TIMETOKENS_PER_SECOND)
    for n in range(150):
        sandbox.control.publish_raw(SUBSCRIBER_KEY, CHANNEL, {"n": n})
    settings = Settings.from_env(
        {"PUBNUB_ORIGIN": sandbox.pubnub_origin, "PUBNUB_SSL": "false"}, env_file=None
    )
    metrics = Metrics()
    received: list[int] = []
    overflows: list[float] = []

    async def scenario() -> None:
        transport = PubNubTransport(
            settings,
            "overflow-test",
            lambda _channel, _tt, payload: received.append(payload["n"]),
            metrics,
            on_overflow=overflows.append,
        )
        await transport.start(CHANNEL, SUBSCRIBER_KEY, resume)
        try:
            async with asyncio.timeout(15):
                while len(received) < 100:
                    await asyncio.sleep(0.05)
            # A later answer that is not full asks for nothing.
            for n in range(150, 160):
                await asyncio.to_thread(
                    sandbox.control.publish_raw, SUBSCRIBER_KEY, CHANNEL, {"n": n}
                )
            async with asyncio.timeout(15):
                while len(received) < 110:
                    await asyncio.sleep(0.05)
        finally:
            await transport.stop()
            await asyncio.sleep(0.5)  # the SDK's leave request, sent on unsubscribing, ends

    asyncio.run(scenario())
    assert received == list(range(50, 160))  # the first 50 were dropped by PubNub
    assert metrics.get("pubnub_full_polls") == 1
    assert overflows == [pytest.approx(resume / TIMETOKENS_PER_SECOND)]


def test_posts_pubnub_dropped_while_the_listener_was_behind_are_backfilled(
    sandbox: SandboxProcess,
    start_listener: Any,
    john_chat: tuple[Any, str],
    redis_client: redis.Redis,
) -> None:
    john, group_id = john_chat
    listener = start_listener("a")
    listener.wait_leader()
    # The chat is known to the listener (backfill's watermarks) before it falls behind.
    john.post("/glip/posts", json={"groupId": group_id, "text": "start"}).raise_for_status()
    wait_for(lambda: posts_in_queue(redis_client).get("start"), 10, 0.05)

    sandbox.control.pause_pubnub()
    for n in range(POSTS):
        john.post("/glip/posts", json={"groupId": group_id, "text": f"m{n}"}).raise_for_status()
    sandbox.control.resume_pubnub()

    texts = {f"m{n}" for n in range(POSTS)}
    wait_for(lambda: texts <= set(posts_in_queue(redis_client)), 30, 0.1)
    assert all(posts_in_queue(redis_client)[t] == 1 for t in texts)  # once each
    metrics = listener.metrics()
    assert "glipbot_listener_pubnub_full_polls_total 1.0" in metrics
    recovered = 'glipbot_listener_backfill_recovered_total{kind="post"}'
    assert _value(metrics, recovered) >= POSTS - 100


def _value(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0
