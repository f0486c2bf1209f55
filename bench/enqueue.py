"""Events per second: one ``send_task`` per event vs the listener's pipelined enqueue.

Prints figures, asserts nothing. Runs against a throwaway redis-server:

    .venv/bin/python bench/enqueue.py [N]
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import redis
import redis.asyncio as aioredis

from devtools.localredis import LocalRedis
from glipbot.contracts import HANDLE_EVENT, handle_event_kwargs
from glipbot.logging import configure_logging
from glipbot.settings import Settings
from glipbot.state.deadletters import DeadLetters
from glipbot.state.keys import Keys
from listener.enqueue import CeleryMessages, make_celery_app
from listener.ingest import MAX_BATCH, Incoming, Ingest
from listener.lease import Lease
from listener.metrics import Metrics
from sandbox.crypto import encrypt_notification, new_key

KEYS = Keys("bench:")


def _notification(i: int) -> dict[str, Any]:
    return {
        "uuid": f"uuid-{i}",
        "event": "/restapi/v1.0/glip/posts",
        "timestamp": "2024-01-01T00:00:00Z",
        "subscriptionId": "s1",
        "ownerId": "400000001",
        "body": {
            "eventType": "PostAdded",
            "id": f"p{i}",
            "groupId": "g1",
            "type": "TextMessage",
            "text": "book me a flight New York - San Francisco 05/06/17",
            "creatorId": "400000002",
            "creationTime": "2024-01-01T00:00:00Z",
        },
    }


def bench_send_task(url: str, n: int) -> float:
    app = make_celery_app(url)
    envelopes = [_notification(i) for i in range(n)]
    start = time.perf_counter()
    for env in envelopes:
        app.send_task(HANDLE_EVENT, kwargs=handle_event_kwargs(env), queue="events")
    return n / (time.perf_counter() - start)


async def bench_pipeline(url: str, n: int, batch: int, offset: int) -> float:
    key = new_key()
    client = aioredis.Redis.from_url(url)
    sync = redis.Redis.from_url(url)
    app = make_celery_app(url)
    lease = Lease(client, KEYS.listener_lease, KEYS.listener_fence, "bench", 600)
    await lease.try_acquire()
    ingest = Ingest(
        client,
        KEYS,
        lease,
        lambda: CeleryMessages(app),
        DeadLetters(sync, KEYS.dead_letters),
        Metrics(),
        dedup_ttl=86400,
    )
    ingest.add_channel("ch", key)
    items = [
        Incoming("ch", offset + i + 1, encrypt_notification(key, _notification(offset + i)))
        for i in range(n)
    ]
    start = time.perf_counter()
    for i in range(0, n, batch):
        await ingest.process(items[i : i + batch])
    rate = n / (time.perf_counter() - start)
    await lease.release()
    await client.aclose()
    sync.close()
    return rate


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    configure_logging(Settings(log_level="WARNING"))
    with LocalRedis() as server:
        print(f"{n} events, redis-server on {server.url}")
        print(
            f"send_task, one per event:                  {bench_send_task(server.url, n):8.0f} /s"
        )
        for batch, offset in ((1, 10**6), (MAX_BATCH, 2 * 10**6)):
            rate = asyncio.run(bench_pipeline(server.url, n, batch, offset))
            label = f"listener pipeline, batch {batch} (decrypt+dedup+enqueue):"
            print(f"{label:43}{rate:8.0f} /s")


if __name__ == "__main__":
    main()
