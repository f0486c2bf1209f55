"""Events per second: one ``send_task`` per event vs the listener's pipelined enqueue.

In each repetition, against a throwaway redis-server, in turn:

  send_task         Celery's ``send_task`` of ``handle_event``, one per event:
                    the comparator
  batch 1           the listener's :class:`~listener.ingest.Ingest` one event at a time
  batch 500         the same with the largest batch the listener hands over:
                    decrypt (AES, as PubNub delivers), de-dup, number in the
                    chat, record in the ledger and push the Celery message

Prints min / median / max events per second over ``--repeat`` runs, the ratio
of each median to send_task's (same run), and the issue's targets for the
batch: at least 4x send_task and 10,000 a second. Asserts nothing.

    python -m bench.enqueue [--events 5000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
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


def main(argv: list[str] | None = None) -> int:
    """Measure each way ``--repeat`` times, in turn; print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.enqueue")
    parser.add_argument("--events", type=int, default=5000, help="events per measurement")
    parser.add_argument("--repeat", type=int, default=5, help="measurements of each way")
    args = parser.parse_args(argv)
    configure_logging(Settings(log_level="WARNING"))
    rates: dict[str, list[float]] = {name: [] for name in WAYS}
    with LocalRedis() as server:
        for run in range(args.repeat):
            base = (run + 1) * 10 * args.events
            rates["send_task"].append(bench_send_task(server.url, args.events))
            for n, batch in enumerate((1, MAX_BATCH)):
                offset = base + n * args.events
                rate = asyncio.run(bench_pipeline(server.url, args.events, batch, offset))
                rates[f"batch {batch}"].append(rate)
            server_client = redis.Redis.from_url(server.url)
            server_client.flushall()  # the next run starts as empty as this one did
            server_client.close()
            line = ", ".join(f"{name} {values[-1]:.0f}/s" for name, values in rates.items())
            print(f"run {run + 1}: {line}", file=sys.stderr)
    comparator = statistics.median(rates["send_task"])
    print(
        f"listener enqueue, {args.events} events per measurement, {args.repeat} runs "
        "(min / median / max events/s); ratio = median / send_task's median"
    )
    for name, values in rates.items():
        found = (min(values), statistics.median(values), max(values))
        spread = " / ".join(f"{v:,.0f}" for v in found)
        ratio = statistics.median(values) / comparator
        print(f"{name:<10} {spread:>26}  {ratio:5.2f}x")
    batched = statistics.median(rates[f"batch {MAX_BATCH}"])
    print(
        f"target: batch {MAX_BATCH} >= 4x send_task: {_met(batched >= 4 * comparator)}; "
        f">= 10,000/s: {_met(batched >= 10_000)}"
    )
    return 0


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


#: The ways measured, in the order of the table.
WAYS = ("send_task", "batch 1", f"batch {MAX_BATCH}")


if __name__ == "__main__":
    sys.exit(main())
