"""The real ``pubnub`` SDK (asyncio flavour) pointed at a sandbox, collecting messages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pubnub.callbacks import SubscribeCallback
from pubnub.enums import PNStatusCategory
from pubnub.models.consumer.common import PNStatus
from pubnub.models.consumer.pubsub import PNMessageResult
from pubnub.pnconfiguration import PNConfiguration
from pubnub.pubnub_asyncio import PubNubAsyncio

from sandbox.testing import Person

FILTERS = ["/restapi/v1.0/glip/posts", "/restapi/v1.0/glip/groups"]


def subscribe(person: Person, **extra: Any) -> dict[str, Any]:
    """Create an encrypted PubNub subscription to posts and groups for ``person``."""
    body = {
        "eventFilters": FILTERS,
        "deliveryMode": {"transportType": "PubNub", "encryption": True},
    }
    resp = person.post("/subscription", json={**body, **extra})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


class Collector(SubscribeCallback):
    """Queues every message the SDK delivers."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[PNMessageResult] = asyncio.Queue()
        self.connected = asyncio.Event()

    def status(self, pubnub: object, status: PNStatus) -> None:
        if status.category == PNStatusCategory.PNConnectedCategory:
            self.connected.set()

    def message(self, pubnub: object, message: PNMessageResult) -> None:
        self.messages.put_nowait(message)

    def presence(self, pubnub: object, presence: object) -> None:
        pass

    async def take(self, count: int = 1, timeout: float = 5.0) -> list[PNMessageResult]:
        """The next ``count`` messages, or TimeoutError."""
        async with asyncio.timeout(timeout):
            return [await self.messages.get() for _ in range(count)]

    async def nothing_for(self, seconds: float) -> bool:
        """Whether no message arrives within ``seconds``."""
        try:
            await asyncio.wait_for(self.messages.get(), seconds)
        except TimeoutError:
            return True
        return False


@asynccontextmanager
async def subscribed(
    origin: str, subscriber_key: str, *channels: str, user_id: str = "test-listener"
) -> AsyncIterator[Collector]:
    """Subscribe to ``channels`` and yield once the SDK is connected; stop cleanly."""
    config = PNConfiguration()
    config.origin = origin
    config.ssl = False
    config.subscribe_key = subscriber_key
    config.user_id = user_id
    config.subscribe_request_timeout = 60  # above the sandbox's hold
    config.disable_config_locking = False
    pubnub = PubNubAsyncio(config)
    collector = Collector()
    pubnub.add_listener(collector)
    try:
        pubnub.subscribe().channels(list(channels)).execute()
        await asyncio.wait_for(collector.connected.wait(), 10)
        yield collector
    finally:
        pubnub.unsubscribe_all()
        await pubnub.stop()
        # The SDK creates a spare event loop it never closes (ResourceWarning).
        pubnub._subscription_manager.loop.close()
