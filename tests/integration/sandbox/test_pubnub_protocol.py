"""The PubNub stand-in, driven by the real `pubnub` SDK and by raw HTTP.

Each test serves `make_app(hub)` on a free loopback port and talks to it the
way a listener does: `PubNubAsyncio` with `origin=127.0.0.1:PORT, ssl=False`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pubnub.callbacks import SubscribeCallback
from pubnub.enums import PNStatusCategory
from pubnub.models.consumer.common import PNStatus
from pubnub.models.consumer.pubsub import PNMessageResult
from pubnub.pnconfiguration import PNConfiguration
from pubnub.pubnub_asyncio import PubNubAsyncio
from yarl import URL

from sandbox.pubnub import PubNubHub, make_app

pytestmark = pytest.mark.integration

KEY = "sub-c-sandbox"
CHANNEL = "rc-channel-1"


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(scenario)


@pytest.fixture(autouse=True)
def no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The server logs no error while serving (held polls, disconnects, shutdown)."""
    caplog.set_level(logging.WARNING)
    yield
    errors = [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(("aiohttp", "asyncio")) and record.levelno >= logging.ERROR
    ]
    assert errors == []


@asynccontextmanager
async def serving(hub: PubNubHub) -> AsyncIterator[str]:
    """Serve the hub on a free loopback port; yield the SDK `origin`."""
    runner = web.AppRunner(make_app(hub))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


class Collector(SubscribeCallback):
    """Queues every message the SDK delivers and keeps every status."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[PNMessageResult] = asyncio.Queue()
        self.statuses: list[PNStatus] = []
        self.connected = asyncio.Event()

    def status(self, pubnub: object, status: PNStatus) -> None:
        self.statuses.append(status)
        if status.category == PNStatusCategory.PNConnectedCategory:
            self.connected.set()

    def message(self, pubnub: object, message: PNMessageResult) -> None:
        self.messages.put_nowait(message)

    async def take(self, count: int, timeout: float = 5.0) -> list[PNMessageResult]:
        async with asyncio.timeout(timeout):
            return [await self.messages.get() for _ in range(count)]

    def errors(self) -> list[PNStatus]:
        return [status for status in self.statuses if status.is_error()]


@asynccontextmanager
async def sdk_client(
    origin: str, user_id: str = "listener"
) -> AsyncIterator[tuple[PubNubAsyncio, Collector]]:
    """A real `PubNubAsyncio` pointed at the stand-in, stopped cleanly afterwards."""
    config = PNConfiguration()
    config.origin = origin
    config.ssl = False
    config.subscribe_key = KEY
    config.publish_key = "pub-c-sandbox"
    config.user_id = user_id
    config.subscribe_request_timeout = 30  # above any hold used here
    config.disable_config_locking = False
    pubnub = PubNubAsyncio(config)
    collector = Collector()
    pubnub.add_listener(collector)
    try:
        yield pubnub, collector
    finally:
        pubnub.unsubscribe_all()
        await pubnub.stop()
        # The SDK creates a spare event loop it never closes (ResourceWarning).
        pubnub._subscription_manager.loop.close()


async def subscribed(pubnub: PubNubAsyncio, collector: Collector, *channels: str) -> None:
    pubnub.subscribe().channels(list(channels or [CHANNEL])).execute()
    await asyncio.wait_for(collector.connected.wait(), 5)


async def http(origin: str, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    """One raw request; `path` is sent exactly as written (already encoded)."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, URL(f"http://{origin}{path}", encoded=True), **kwargs) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


def subscribe_requests(hub: PubNubHub) -> list[tuple[str, int]]:
    return [(r.query.get("tt", "0"), r.status) for r in hub.requests if "/subscribe/" in r.path]


def test_the_sdk_receives_a_published_message_within_one_second() -> None:
    async def scenario() -> None:
        hub = PubNubHub()
        async with serving(hub) as origin, sdk_client(origin) as (pubnub, collector):
            await subscribed(pubnub, collector)
            await asyncio.sleep(0.1)  # let the long-poll be held

            started = time.monotonic()
            timetoken = hub.publish(KEY, CHANNEL, "Y2lwaGVydGV4dA==")
            [message] = await collector.take(1, timeout=1.0)

            assert time.monotonic() - started < 1.0
            assert (message.channel, message.message) == (CHANNEL, "Y2lwaGVydGV4dA==")
            assert message.timetoken == int(timetoken)
            assert collector.errors() == []

    run(scenario())


def test_messages_published_while_away_are_caught_up_oldest_first_in_batches() -> None:
    async def scenario() -> None:
        hub = PubNubHub(retention_count=300)
        async with serving(hub) as origin:
            async with sdk_client(origin) as (pubnub, collector):
                await subscribed(pubnub, collector)
                hub.publish(KEY, CHANNEL, "seen")
                [last_seen] = await collector.take(1)

            # Given the listener is gone while 250 messages are published
            for n in range(250):
                hub.publish(KEY, CHANNEL, f"missed-{n}")
            hub.requests.clear()

            # When it comes back from its last timetoken
            async with sdk_client(origin) as (pubnub, collector):
                pubnub.subscribe().channels([CHANNEL]).with_timetoken(last_seen.timetoken).execute()
                received = await collector.take(250)

                # Then it gets every one, oldest first, and nothing more
                assert [m.message for m in received] == [f"missed-{n}" for n in range(250)]
                await asyncio.sleep(0.2)
                assert collector.messages.empty()

        caught_up = [tt for tt, status in subscribe_requests(hub) if tt != "0"]
        assert len(caught_up) >= 3  # at most 100 per response

    run(scenario())


def test_catch_up_is_limited_by_retention_count() -> None:
    async def scenario() -> None:
        hub = PubNubHub(retention_count=5)
        before = hub.current_timetoken()
        for n in range(12):
            hub.publish(KEY, CHANNEL, n)
        async with serving(hub) as origin, sdk_client(origin) as (pubnub, collector):
            pubnub.subscribe().channels([CHANNEL]).with_timetoken(before).execute()
            assert [m.message for m in await collector.take(5)] == [7, 8, 9, 10, 11]

    run(scenario())


def test_pause_holds_delivery_and_resume_delivers_what_was_held() -> None:
    async def scenario() -> None:
        hub = PubNubHub()
        async with serving(hub) as origin, sdk_client(origin) as (pubnub, collector):
            await subscribed(pubnub, collector)
            hub.pause()
            hub.publish(KEY, CHANNEL, "first")
            hub.publish(KEY, CHANNEL, "second")
            await asyncio.sleep(0.5)
            assert collector.messages.empty()

            hub.resume()

            assert [m.message for m in await collector.take(2)] == ["first", "second"]

    run(scenario())


def test_duplicate_next_delivers_the_same_payload_twice() -> None:
    async def scenario() -> None:
        hub = PubNubHub()
        async with serving(hub) as origin, sdk_client(origin) as (pubnub, collector):
            await subscribed(pubnub, collector)
            hub.duplicate_next()
            hub.publish(KEY, CHANNEL, "again")
            hub.publish(KEY, CHANNEL, "once")

            received = await collector.take(3)

            assert [m.message for m in received] == ["again", "again", "once"]
            assert received[1].timetoken == received[0].timetoken + 1

    run(scenario())


def test_an_idle_hold_times_out_empty_and_the_sdk_polls_on_calmly() -> None:
    async def scenario() -> None:
        hub = PubNubHub(hold_seconds=1)
        async with serving(hub) as origin, sdk_client(origin) as (pubnub, collector):
            await subscribed(pubnub, collector)
            await asyncio.sleep(3.5)

            polls = subscribe_requests(hub)
            assert all(status == 200 for _, status in polls)
            assert 3 <= len(polls) <= 5  # the handshake, then one poll per hold
            assert len({tt for tt, _ in polls[1:]}) == 1  # an empty answer keeps the cursor

            hub.publish(KEY, CHANNEL, "still listening")
            [message] = await collector.take(1)
            assert message.message == "still listening"
            assert collector.errors() == []

    run(scenario())


def test_every_subscriber_of_a_channel_receives_every_message() -> None:
    async def scenario() -> None:
        hub = PubNubHub()
        async with (
            serving(hub) as origin,
            sdk_client(origin, "listener-1") as (first, first_seen),
            sdk_client(origin, "listener-2") as (second, second_seen),
        ):
            await subscribed(first, first_seen)
            await subscribed(second, second_seen)
            await asyncio.sleep(0.1)

            hub.publish(KEY, CHANNEL, "fan-out")

            assert [m.message for m in await first_seen.take(1)] == ["fan-out"]
            assert [m.message for m in await second_seen.take(1)] == ["fan-out"]

    run(scenario())


def test_channel_names_with_slash_colon_and_comma_survive_the_raw_path() -> None:
    names = ["/restapi/v1.0/glip/posts", "a:b", "c,d", "e%f"]

    async def scenario() -> None:
        hub = PubNubHub()
        async with serving(hub) as origin, sdk_client(origin) as (pubnub, collector):
            await subscribed(pubnub, collector, *names)
            for name in names:
                hub.publish(KEY, name, f"on {name}")

            received = await collector.take(len(names))

            assert [(m.channel, m.message) for m in received] == [(n, f"on {n}") for n in names]
            # And a publish over HTTP reaches a channel named with encoded characters.
            published = await pubnub.publish().channel("c,d").message("sdk").future()
            assert not published.status.is_error()
            assert [(m.channel, m.message) for m in await collector.take(1)] == [("c,d", "sdk")]

    run(scenario())


def test_time_publish_and_presence_answer_the_documented_shapes() -> None:
    async def scenario() -> None:
        hub = PubNubHub()
        async with serving(hub) as origin, sdk_client(origin) as (pubnub, collector):
            await subscribed(pubnub, collector)
            status, body = await http(origin, "GET", "/time/0")
            assert status == 200
            assert isinstance(body, list)
            assert len(str(body[0])) == 17

            status, body = await http(
                origin, "GET", f"/publish/p/{KEY}/0/{CHANNEL}/0/%7B%22a%22%3A1%7D"
            )
            assert status == 200
            assert body[:2] == [1, "Sent"]
            assert int(body[2]) > 0

            status, body = await http(
                origin, "POST", f"/publish/p/{KEY}/0/{CHANNEL}/0?uuid=poster", data='"posted"'
            )
            assert (status, body[:2]) == (200, [1, "Sent"])

            sdk_time = await pubnub.time().future()
            sdk_publish = await pubnub.publish().channel(CHANNEL).message([1, 2]).future()
            assert int(sdk_time.result) > 0
            assert sdk_publish.result.timetoken > 0

            received = await collector.take(3)
            assert [m.message for m in received] == [{"a": 1}, "posted", [1, 2]]
            assert received[1].publisher == "poster"

            presence = f"/v2/presence/sub-key/{KEY}/channel/{CHANNEL}"
            assert await http(origin, "GET", f"{presence}/heartbeat?heartbeat=300") == (
                200,
                {"status": 200, "message": "OK", "service": "Presence"},
            )
            status, body = await http(origin, "GET", f"{presence}/leave")
            assert (status, body["message"], body["action"]) == (200, "OK", "leave")

    run(scenario())


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", f"/v2/subscribe/{KEY}/{CHANNEL}/0?tt=soon", 400),
        ("GET", f"/v2/subscribe/{KEY}/{CHANNEL}/0?tt=-5", 400),
        ("GET", f"/v2/subscribe/{KEY}/{CHANNEL}/0?tt=1&tr=east", 400),
        ("GET", f"/v2/subscribe/{KEY}/,/0?tt=0", 400),
        ("GET", f"/v2/subscribe/{KEY}/%FF/0", 400),
        ("GET", f"/v2/subscribe/{KEY}/,/0?channel-group=cg", 400),
        ("GET", f"/v2/subscribe/{KEY}/a.%2A/0", 400),
        ("GET", f"/v2/subscribe/{KEY}/{CHANNEL}/0?filter-expr=a%3D%3D1", 400),
        ("GET", "/v1/nowhere", 404),
        ("DELETE", "/time/0", 405),
        ("POST", f"/publish/p/{KEY}/0/{CHANNEL}/0/%22x%22", 405),
    ],
)
def test_malformed_requests_get_json_errors_never_500(method: str, path: str, status: int) -> None:
    async def scenario() -> None:
        async with serving(PubNubHub()) as origin:
            answered, body = await http(origin, method, path)
            assert (answered, body["status"], body["error"]) == (status, status, True)

    run(scenario())


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"/publish/p/{KEY}/0/{CHANNEL}/0/%7Bnot-json", None),
        (f"/publish/p/{KEY}/0/{CHANNEL}/0", "NaN"),
    ],
)
def test_publishing_invalid_json_is_refused_as_the_real_service_does(
    path: str, body: str | None
) -> None:
    async def scenario() -> None:
        hub = PubNubHub()
        async with serving(hub) as origin:
            method = "GET" if body is None else "POST"
            assert await http(origin, method, path, data=body) == (400, [0, "Invalid JSON"])
        assert hub.read(KEY, [CHANNEL], 0) == ([], 0)

    run(scenario())


def test_a_client_leaving_mid_hold_and_a_shutdown_release_held_polls_quietly() -> None:
    async def scenario() -> None:
        hub = PubNubHub(hold_seconds=30)
        cursor = hub.current_timetoken()
        poll = f"/v2/subscribe/{KEY}/{CHANNEL}/0?tt={cursor}"
        async with serving(hub) as origin:
            # A client that gives up on its long-poll...
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(http(origin, "GET", poll), 0.2)
            # ...is noticed at the next wake-up rather than after 30 s.
            hub.publish(KEY, "elsewhere", "x")
            hub.publish(KEY, CHANNEL, "nobody listens")
            await asyncio.sleep(0.1)
            assert [r.path for r in hub.requests] == [poll.partition("?")[0]]

            # A poll still held when the server stops is answered, empty, at once.
            cursor = hub.current_timetoken()
            held = asyncio.create_task(
                http(origin, "GET", f"/v2/subscribe/{KEY}/{CHANNEL}/0?tt={cursor}")
            )
            await asyncio.sleep(0.2)
            stopping = time.monotonic()
        assert time.monotonic() - stopping < 2.0
        assert await held == (200, {"t": {"t": str(cursor), "r": 1}, "m": []})

    run(scenario())


def test_handshake_answers_at_once_with_the_current_timetoken() -> None:
    async def scenario() -> None:
        hub = PubNubHub()
        published = hub.publish(KEY, CHANNEL, "old news")
        async with serving(hub) as origin:
            status, body = await http(origin, "GET", f"/v2/subscribe/{KEY}/{CHANNEL}/0?tt=0&uuid=u")
        assert status == 200
        assert body["m"] == []
        assert body["t"]["r"] == 1
        # The cursor lies after what was retained: a fresh subscriber starts from now.
        assert int(body["t"]["t"]) > int(published)

    run(scenario())


def test_a_lone_surrogate_or_unicode_published_over_http_is_delivered_intact() -> None:
    async def scenario() -> None:
        hub = PubNubHub()
        cursor = hub.current_timetoken()
        async with serving(hub) as origin:
            path = f"/publish/p/{KEY}/0/{CHANNEL}/0"
            assert (await http(origin, "POST", path, data='"\\ud800 \u00e9"'))[0] == 200
            status, body = await http(origin, "GET", f"/v2/subscribe/{KEY}/{CHANNEL}/0?tt={cursor}")
        assert status == 200
        assert body["m"][0]["d"] == "\ud800 \u00e9"

    run(scenario())
