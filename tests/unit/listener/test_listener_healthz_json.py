"""``/healthz`` is strict JSON: a gauge without a value is ``null``, never ``NaN``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from glipbot.state.keys import Keys
from listener.health import HealthServer
from listener.leadership import Reign
from listener.lease import Lease
from listener.metrics import Metrics
from listener.status import Status
from listener.watchdog import Heartbeat


def _reject(constant: str) -> Any:
    raise ValueError(f"not JSON: {constant}")


async def _healthz_body() -> str:
    client = aioredis.Redis()  # never connected: the snapshot reads no Redis
    metrics = Metrics()
    status = Status(
        "unit",
        client=client,
        keys=Keys("t:"),
        lease=Lease(client, "t:lease", "t:fence", "unit", 5),
        metrics=metrics,
        reign=Reign(),
        mirror_ttl=10,
        heartbeat=Heartbeat("leadership"),
    )
    metrics.set_gauge("fence", float("inf"))
    server = HealthServer(status.snapshot, metrics, host="127.0.0.1", port=0)
    port = await server.start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as resp,
        ):
            return await resp.text()
    finally:
        await server.stop()
        await client.aclose()


def test_healthz_before_the_first_event_is_strict_json_with_nulls() -> None:
    """Given a listener that has seen no event and holds no subscription (gauges NaN,
    one set to infinity), when /healthz is read, then a strict JSON parser accepts the
    body and those values are null, at the top and in the metrics."""
    body = asyncio.run(_healthz_body())

    health = json.loads(body, parse_constant=_reject)

    assert health["seconds_since_last_event"] is None
    assert health["expires_in_seconds"] is None
    assert health["metrics"]["seconds_since_last_event"] is None
    assert health["metrics"]["subscription_expires_in_seconds"] is None
    assert health["metrics"]["fence"] is None
    assert health["metrics"]["enqueued"] == 0
