"""Per-message ingest: dead-letter reasons, de-duplication, fencing, the stored timetoken."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import redis
import redis.asyncio as aioredis

from devtools.localredis import LocalRedis
from glipbot.state.deadletters import DeadLetters
from glipbot.state.keys import Keys
from listener.enqueue import CeleryMessages, make_celery_app
from listener.ingest import Incoming, Ingest
from listener.lease import Lease
from listener.metrics import Metrics
from sandbox.crypto import encrypt, encrypt_notification, new_key

KEYS = Keys("t:")
KEY = new_key()
CHANNEL = "ch-1"


def notification(uuid: str, text: str = "hi", post_id: str | None = None) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "event": "/restapi/v1.0/glip/posts",
        "timestamp": "2024-01-01T00:00:00Z",
        "subscriptionId": "s1",
        "ownerId": "400000001",
        "body": {
            "eventType": "PostAdded",
            "id": post_id or f"p-{uuid}",
            "groupId": "g1",
            "type": "TextMessage",
            "text": text,
            "creatorId": "400000002",
        },
    }


def run(redis_url: str, scenario: Callable[[Ingest, Lease, Metrics], Awaitable[None]]) -> None:
    async def main() -> None:
        client = aioredis.Redis.from_url(redis_url)
        sync = redis.Redis.from_url(redis_url)
        app = make_celery_app(redis_url)
        lease = Lease(client, KEYS.listener_lease, KEYS.listener_fence, "me", 30)
        await lease.try_acquire()
        metrics = Metrics()
        ingest = Ingest(
            client,
            KEYS,
            lease,
            lambda: CeleryMessages(app),
            DeadLetters(sync, KEYS.dead_letters),
            metrics,
            dedup_ttl=86400,
        )
        ingest.add_channel(CHANNEL, KEY)
        try:
            await scenario(ingest, lease, metrics)
        finally:
            await client.aclose()
            sync.close()

    asyncio.run(main())


def item(tt: int, payload: Any, channel: str = CHANNEL) -> Incoming:
    return Incoming(channel, tt, payload)


def queued_uuids(client: redis.Redis) -> list[str]:
    out = []
    for raw in reversed(client.lrange("events", 0, -1)):
        _a, kwargs, _e = json.loads(base64.b64decode(json.loads(raw)["body"]))
        out.append(kwargs["envelope"]["uuid"])
    return out


def test_good_events_are_enqueued_once_and_the_timetoken_is_stored(
    redis_url: str, redis_client: redis.Redis
) -> None:
    async def scenario(ingest: Ingest, _lease: Lease, metrics: Metrics) -> None:
        await ingest.process(
            [
                item(1, encrypt_notification(KEY, notification("u1"))),
                item(2, encrypt_notification(KEY, notification("u2"))),
                item(3, encrypt_notification(KEY, notification("u1"))),
            ]
        )
        await ingest.process([item(4, encrypt_notification(KEY, notification("u2")))])
        assert (metrics.get("enqueued"), metrics.get("duplicates")) == (2, 2)

    run(redis_url, scenario)
    assert queued_uuids(redis_client) == ["u1", "u2"]
    assert redis_client.get("t:pubnub:timetoken") == "4"
    assert 86000 < redis_client.ttl("t:dedup:post:p-u1") <= 86400


def test_batches_call_their_scripts_by_digest_alone() -> None:
    """No SCRIPT EXISTS round trip at each batch (a server of its own: the counts are
    server-wide)."""

    async def scenario(ingest: Ingest, _lease: Lease, metrics: Metrics) -> None:
        for n in range(3):
            await ingest.process([item(n + 1, encrypt_notification(KEY, notification(f"u{n}")))])
        assert metrics.get("enqueued") == 3

    with LocalRedis() as server:
        run(server.url, scenario)
        client = redis.Redis.from_url(server.url)
        stats = client.info("commandstats")
        client.close()
    assert "cmdstat_script|exists" not in stats
    # 3 batches of (enqueue, timetoken), and the test's lease; never refused (NOSCRIPT).
    assert stats["cmdstat_evalsha"]["calls"] >= 6
    assert stats["cmdstat_evalsha"]["failed_calls"] <= 1  # the lease's first, by redis-py


def test_the_bots_own_posts_are_dropped_counted_and_still_move_the_timetoken(
    redis_url: str, redis_client: redis.Redis
) -> None:
    own = notification("u-own")
    own["body"]["creatorId"] = own["ownerId"]
    edited = {**own, "uuid": "u-own-2", "body": {**own["body"], "eventType": "PostChanged"}}

    async def scenario(ingest: Ingest, _lease: Lease, metrics: Metrics) -> None:
        await ingest.process(
            [
                item(1, encrypt_notification(KEY, notification("u1"))),
                item(2, encrypt_notification(KEY, own)),
                item(3, encrypt_notification(KEY, edited)),
            ]
        )
        assert metrics.get("own_posts_dropped") == 2
        assert metrics.get("enqueued") == 1
        assert metrics.get("dead_letters") == 0

    run(redis_url, scenario)
    assert queued_uuids(redis_client) == ["u1"]
    assert redis_client.get("t:pubnub:timetoken") == "3"


def test_bad_input_is_dead_lettered_with_its_reason_and_never_the_key(
    redis_url: str, redis_client: redis.Redis
) -> None:
    missing = notification("u9")
    del missing["body"]["groupId"]
    unknown = {**notification("u8"), "event": "/restapi/v1.0/unknown"}

    async def scenario(ingest: Ingest, _lease: Lease, metrics: Metrics) -> None:
        await ingest.process(
            [
                item(1, "%%%"),
                item(2, encrypt_notification(new_key(), notification("x"))),
                item(3, encrypt(KEY, b"not json")),
                item(4, encrypt_notification(KEY, missing)),
                item(5, encrypt_notification(KEY, unknown)),
                item(6, encrypt_notification(KEY, notification("u3")), channel="elsewhere"),
                item(7, encrypt_notification(KEY, notification("ok"))),
            ]
        )
        assert metrics.get("dead_letters") == 6
        assert metrics.get("dead_letters", reason="invalid_event") == 2

    run(redis_url, scenario)
    records = DeadLetters(redis_client, "t:deadletters").list()
    assert [r["reason"] for r in reversed(records)] == [
        "bad_base64",
        "bad_padding",
        "not_json",
        "invalid_event",
        "invalid_event",
        "unknown_channel",
    ]
    assert records[-4]["context"]["event_uuid"] == "u9"
    assert records[-4]["context"]["detail"] == "body lacks groupId"
    assert records[-1]["context"] == {"channel": CHANNEL, "timetoken": 1, "detail": ""}
    assert KEY not in json.dumps(records)
    assert queued_uuids(redis_client) == ["ok"]


def test_a_deposed_leader_cannot_enqueue_or_move_the_cursor(
    redis_url: str, redis_client: redis.Redis
) -> None:
    async def scenario(ingest: Ingest, lease: Lease, metrics: Metrics) -> None:
        redis_client.set(KEYS.listener_lease, "99:other")  # someone else leads now
        await ingest.process([item(5, encrypt_notification(KEY, notification("u1")))])
        assert (metrics.get("enqueued"), metrics.get("fenced")) == (0, 1)
        assert lease.held  # it learns at its next extension; the script fenced it already

    run(redis_url, scenario)
    assert redis_client.llen("events") == 0
    assert redis_client.get("t:pubnub:timetoken") is None
    assert redis_client.get("t:dedup:post:p-u1") is None  # the next leader can still enqueue it


def test_a_post_recovered_by_backfill_and_its_late_notification_run_once(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """Two notifications of one post (different uuids): one event, de-duplicated by post id."""

    async def scenario(ingest: Ingest, _lease: Lease, metrics: Metrics) -> None:
        ingest.submit_recovered([notification("backfill-post-p7", post_id="p7")])
        await ingest.drain()
        await ingest.process([item(5, encrypt_notification(KEY, notification("u7", post_id="p7")))])
        assert (metrics.get("enqueued"), metrics.get("duplicates")) == (1, 1)

    run(redis_url, scenario)
    assert queued_uuids(redis_client) == ["backfill-post-p7"]
    assert redis_client.get("t:pubnub:timetoken") == "5"
    assert redis_client.zscore("t:listener:chats", "g1") is not None
