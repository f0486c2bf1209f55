"""Where a transport starts reading a channel, and what the ops inbox does with a command."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio as aioredis

from glipbot.state.keys import Keys
from listener.commands import CommandInbox
from listener.metrics import Metrics
from listener.resume import NEW_CHANNEL_LOOKBACK, resume_timetoken
from listener.subscription import SubscriptionInfo

KEYS = Keys("t:")
NOW = 1_700_000_000.0


def subscription(*, created: bool) -> SubscriptionInfo:
    return SubscriptionInfo("s1", "ch", "sub-key", "key", NOW + 900, 900, created=created)


def resume(redis_url: str, info: SubscriptionInfo, stored: str | None) -> int | None:
    async def main() -> int | None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            if stored is not None:
                await client.set(KEYS.timetoken, stored)
            return await resume_timetoken(info, client, KEYS, clock=lambda: NOW)
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_a_new_channel_is_read_from_a_minute_back_whatever_is_stored(redis_url: str) -> None:
    expected = int((NOW - NEW_CHANNEL_LOOKBACK) * 10_000_000)
    assert resume(redis_url, subscription(created=True), "17000000000000000") == expected


def test_a_reused_channel_resumes_from_the_stored_timetoken(redis_url: str) -> None:
    assert resume(redis_url, subscription(created=False), "17000000000000000") == 17 * 10**15


def test_a_reused_channel_without_a_stored_timetoken_is_read_from_now(redis_url: str) -> None:
    assert resume(redis_url, subscription(created=False), None) is None


class FakeKeeper:
    def __init__(self) -> None:
        self.requests: list[str] = []

    def request(self, command: str) -> None:
        self.requests.append(command)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (json.dumps({"command": "renew", "requested_at": 1.0}), ["renew"]),
        (json.dumps({"command": "recreate"}), ["recreate"]),
        (json.dumps({"command": "reboot"}), []),
        (json.dumps(["renew"]), []),
        ("not json", []),
    ],
)
def test_only_known_commands_reach_the_keeper_and_are_counted(
    redis_url: str, raw: str, expected: list[str]
) -> None:
    keeper, metrics = FakeKeeper(), Metrics()
    marker = json.dumps({"command": "renew"})  # popped after ``raw``: then ``raw`` was handled

    async def main() -> None:
        client = aioredis.Redis.from_url(redis_url)
        inbox = CommandInbox(client, KEYS, metrics, lambda: keeper)  # type: ignore[arg-type,return-value]
        await client.rpush(KEYS.listener_commands, raw, marker)
        task = asyncio.create_task(inbox.run())
        try:
            async with asyncio.timeout(5):
                while len(keeper.requests) < len(expected) + 1:
                    await asyncio.sleep(0.01)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await client.aclose()

    asyncio.run(main())

    assert keeper.requests == [*expected, "renew"]
    assert metrics.get("commands", command="renew") == expected.count("renew") + 1
    assert metrics.get("commands") == len(expected) + 1
