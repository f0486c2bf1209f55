"""``/healthz`` fails, naming the step, when the leadership loop is stuck; it listens on
``LISTENER_HEALTH_HOST``, which must be an IP address or a host name."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from glipbot.errors import ConfigError
from glipbot.settings import DEFAULT_HEALTH_HOST, Settings
from glipbot.state.keys import Keys
from listener.health import FAILING, OK, HealthServer, judge
from listener.leadership import Reign
from listener.lease import Lease
from listener.metrics import Metrics
from listener.status import Status
from listener.watchdog import Heartbeat

KEYS = Keys("t:")


def test_a_stuck_loop_fails_whatever_the_role_and_says_where() -> None:
    stuck = "leadership stuck in cancelling for 12.0 s (bound 10 s)"

    assert judge(role="standby", redis_ok=True, subscription_live=False, stuck=stuck) == (
        FAILING,
        stuck,
    )
    assert judge(role="leader", redis_ok=True, subscription_live=True, stuck=stuck) == (
        FAILING,
        stuck,
    )
    assert judge(role="standby", redis_ok=True, subscription_live=False) == (OK, None)
    assert judge(role="leader", redis_ok=True, subscription_live=False) == (
        FAILING,
        "no live subscription",
    )


def test_healthz_answers_503_with_the_stuck_step_once_the_loop_overruns_its_bound(
    redis_url: str,
) -> None:
    """The deposed listener of the fault run reported standby/ok while it hung; now the
    same standby, its leadership loop stuck past the step's bound, answers 503."""
    now = [100.0]
    heartbeat = Heartbeat("leadership", clock=lambda: now[0])

    async def scenario() -> list[tuple[int, dict[str, Any]]]:
        client = aioredis.Redis.from_url(redis_url)
        metrics = Metrics()
        lease = Lease(client, KEYS.listener_lease, KEYS.listener_fence, "a", 10)
        status = Status(
            "a",
            client=client,
            keys=KEYS,
            lease=lease,
            metrics=metrics,
            reign=Reign(),
            mirror_ttl=20,
            heartbeat=heartbeat,
        )
        status.redis_seen(True)
        server = HealthServer(status.snapshot, metrics, host=DEFAULT_HEALTH_HOST, port=0)
        port = await server.start()
        answers = []
        try:
            async with aiohttp.ClientSession() as http:
                for advance in (0.0, 14.0):  # within the bound, then 4 s past it
                    now[0] += advance
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        answers.append((resp.status, await resp.json()))
        finally:
            await server.stop()
            await client.aclose()
        return answers

    heartbeat.beat("cancelling", 10)
    (code_before, before), (code_after, after) = asyncio.run(scenario())

    assert (code_before, before["status"], before["reason"], before["step"]) == (
        200,
        "ok",
        None,
        "cancelling",
    )
    assert (code_after, after["status"], after["role"]) == (503, "failing", "standby")
    assert after["reason"] == "leadership stuck in cancelling for 14.0 s (bound 10 s)"


def test_health_listens_on_loopback_unless_told_otherwise() -> None:
    assert Settings.from_env({}, env_file=None).health_host == "127.0.0.1"
    for host in ("0.0.0.0", "::", "10.1.2.3", "localhost", "listener-a.glipbot.svc"):
        assert Settings.from_env({"LISTENER_HEALTH_HOST": host}, env_file=None).health_host == host


@pytest.mark.parametrize("host", ["", "0.0.0.0:8930", "http://0.0.0.0", "256.1.1.1", "a b", "-x"])
def test_a_health_host_that_is_neither_an_address_nor_a_name_is_refused(host: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"LISTENER_HEALTH_HOST": host}, env_file=None)

    assert str(refused.value).startswith("LISTENER_HEALTH_HOST must be an IP address")
