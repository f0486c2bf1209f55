"""Catch-up throughput of the PubNub stand-in, measured with the real SDK.

Publishes N messages into a `PubNubHub` (sized to retain them all), then
subscribes with the real `pubnub` asyncio SDK from a timetoken before the
first and times how fast all N arrive (100 per long-poll response). Prints
figures; asserts nothing.

    .venv/bin/python bench/pubnub_catchup.py [--messages 20000] [--size 880]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import time

from aiohttp import web
from pubnub.callbacks import SubscribeCallback
from pubnub.models.consumer.pubsub import PNMessageResult
from pubnub.pnconfiguration import PNConfiguration
from pubnub.pubnub_asyncio import PubNubAsyncio

from sandbox.pubnub import PubNubHub, make_app

SUBSCRIBE_KEY = "bench-sub-key"
CHANNEL = "bench-channel"


class _Counter(SubscribeCallback):
    def __init__(self, expected: int) -> None:
        self.count = 0
        self.done = asyncio.Event()
        self.expected = expected

    def message(self, pubnub: object, message: PNMessageResult) -> None:
        self.count += 1
        if self.count >= self.expected:
            self.done.set()


async def _run(messages: int, size: int) -> None:
    hub = PubNubHub(retention_count=messages)
    runner = web.AppRunner(make_app(hub), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    # RingCentral's payloads are base64 strings of AES ciphertext.
    payload = base64.b64encode(os.urandom(size * 3 // 4)).decode()
    start_tt = hub.current_timetoken()
    started = time.perf_counter()
    for _ in range(messages):
        hub.publish(SUBSCRIBE_KEY, CHANNEL, payload)
    publish_seconds = time.perf_counter() - started

    config = PNConfiguration()
    config.origin = f"127.0.0.1:{port}"
    config.ssl = False
    config.subscribe_key = SUBSCRIBE_KEY
    config.user_id = "bench"
    config.disable_config_locking = False
    pubnub = PubNubAsyncio(config)
    counter = _Counter(messages)
    pubnub.add_listener(counter)
    started = time.perf_counter()
    pubnub.subscribe().channels([CHANNEL]).with_timetoken(start_tt).execute()
    await asyncio.wait_for(counter.done.wait(), timeout=600)
    catchup_seconds = time.perf_counter() - started
    pubnub.unsubscribe_all()
    await pubnub.stop()
    pubnub._subscription_manager.loop.close()  # the SDK leaves its spare loop open
    await runner.cleanup()

    print(f"messages            {messages} x {len(payload)} bytes")
    print(f"hub.publish         {messages / publish_seconds:,.0f} msg/s")
    print(
        f"SDK catch-up        {counter.count / catchup_seconds:,.0f} msg/s "
        f"({catchup_seconds:.2f} s, {len(hub.requests)} requests)"
    )


def main() -> None:
    """Parse the arguments and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--size", type=int, default=880, help="payload length in characters")
    args = parser.parse_args()
    asyncio.run(_run(args.messages, args.size))


if __name__ == "__main__":
    main()
