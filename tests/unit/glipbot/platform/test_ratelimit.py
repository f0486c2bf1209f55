"""glipbot.platform.ratelimit: one sliding window per group, shared by every process."""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass

import pytest
import redis

from glipbot.errors import RateLimitedError
from glipbot.platform.ratelimit import RateLimiter
from glipbot.state.counters import Counters
from glipbot.state.keys import Keys
from tests.support.redis_calls import record_calls

KEYS = Keys("test:")


@dataclass
class Headers:
    group: str
    limit: int
    remaining: int
    window: int


def _limiter(client: redis.Redis, limit: int = 5, window: float = 1.0) -> RateLimiter:
    return RateLimiter(client, KEYS, limits={"Light": (limit, window)})


def test_grants_up_to_the_limit_then_names_the_wait(redis_client: redis.Redis) -> None:
    limiter = _limiter(redis_client, limit=5, window=2.0)

    grants = [limiter.try_acquire("Light") for _ in range(5)]
    wait = limiter.try_acquire("Light")

    assert grants == [0.0] * 5
    assert 1.9 < wait <= 2.0 + 0.1  # the window plus the safety margin


def test_a_slot_frees_when_the_oldest_grant_leaves_the_window(redis_client: redis.Redis) -> None:
    limiter = _limiter(redis_client, limit=2, window=0.5)
    limiter.try_acquire("Light")
    limiter.try_acquire("Light")

    wait = limiter.try_acquire("Light")
    time.sleep(wait)

    assert limiter.try_acquire("Light") == 0.0


def test_groups_are_counted_apart(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client, KEYS, limits={"Light": (1, 5.0), "Medium": (1, 5.0)})

    assert limiter.try_acquire("Light") == 0.0
    assert limiter.try_acquire("Medium") == 0.0
    assert limiter.try_acquire("Light") > 0


def test_acquire_raises_rate_limited_when_the_wait_is_too_long(redis_client: redis.Redis) -> None:
    limiter = _limiter(redis_client, limit=1, window=30.0)
    limiter.acquire("Light", max_wait=1.0)

    with pytest.raises(RateLimitedError) as caught:
        limiter.acquire("Light", max_wait=1.0)

    assert caught.value.group == "Light"
    assert 29 < caught.value.retry_after <= 31


def test_acquire_sleeps_through_a_short_wait(redis_client: redis.Redis) -> None:
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    limiter = RateLimiter(redis_client, KEYS, limits={"Light": (1, 0.3)}, sleep=sleep)
    limiter.acquire("Light", max_wait=5.0)
    limiter.acquire("Light", max_wait=5.0)

    assert len(slept) >= 1
    assert 0.2 < sum(slept) < 1.0


def test_without_waiting_a_request_takes_a_free_slot_or_is_refused_at_once(
    redis_client: redis.Redis,
) -> None:
    slept: list[float] = []
    limiter = RateLimiter(redis_client, KEYS, limits={"Light": (1, 0.3)}, sleep=slept.append)

    with limiter.without_waiting():
        limiter.before_request("Light")  # free: taken
        with pytest.raises(RateLimitedError):
            limiter.before_request("Light")  # a 0.3 s wait is too long here
    assert slept == []
    limiter.after_response("Light", None, None)
    assert limiter.max_wait > 0.3  # outside the block, requests wait as before


def test_a_pause_stops_every_limiter_of_the_cluster(redis_client: redis.Redis) -> None:
    one, other = _limiter(redis_client), _limiter(redis_client)

    one.pause("Light", 2.0)
    wait = other.try_acquire("Light")

    assert 1.5 < wait <= 2.0
    assert other.state("Light").paused_for > 1.5


def test_a_pause_is_extended_never_shortened(redis_client: redis.Redis) -> None:
    limiter = _limiter(redis_client)
    limiter.pause("Light", 10.0)

    limiter.pause("Light", 1.0)

    assert limiter.state("Light").paused_for > 9


def test_observe_learns_the_platforms_limit(redis_client: redis.Redis) -> None:
    limiter = _limiter(redis_client, limit=50, window=60.0)

    limiter.observe(Headers("Light", limit=3, remaining=3, window=60))
    grants = [limiter.try_acquire("Light") for _ in range(4)]

    assert grants[:3] == [0.0, 0.0, 0.0]
    assert grants[3] > 0
    assert limiter.state("Light").limit == 3


def test_observe_counts_requests_the_platform_saw_from_elsewhere(redis_client: redis.Redis) -> None:
    """Another client with the same credentials used 8 of 10: only 2 are left for us."""
    limiter = _limiter(redis_client, limit=10, window=60.0)

    limiter.observe(Headers("Light", limit=10, remaining=2, window=60))

    assert [limiter.try_acquire("Light") for _ in range(2)] == [0.0, 0.0]
    assert limiter.try_acquire("Light") > 0
    assert limiter.state("Light").used == 10


def _hammer(url: str, count: int, out: multiprocessing.Queue[list[float]]) -> None:
    client = redis.Redis.from_url(url)
    limiter = RateLimiter(client, KEYS, limits={"Light": (10, 1.0)})
    grants: list[float] = []
    for _ in range(count):
        limiter.acquire("Light", max_wait=5.0)
        seconds, micros = client.time()
        grants.append(seconds + micros / 1e6)
    out.put(grants)


def test_four_processes_together_never_exceed_the_window(redis_url: str) -> None:
    """Given 4 processes taking 10 slots each against 10 per second, no 1-second window
    (as Redis's clock saw the grants) ever holds more than 10."""
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[list[float]] = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(redis_url, 10, out)) for _ in range(4)]
    for proc in procs:
        proc.start()
    grants = sorted(t for _ in procs for t in out.get(timeout=60))
    for proc in procs:
        proc.join(timeout=10)

    assert len(grants) == 40
    # Each time is read just after its grant: allow 20 ms of scheduling delay.
    busiest = max(sum(1 for other in grants if start <= other < start + 0.98) for start in grants)
    assert busiest <= 10


def test_as_a_request_hook_a_429_pauses_the_group_and_headers_teach_the_limit(
    redis_client: redis.Redis,
) -> None:
    counters = Counters(redis_client, KEYS.counters)
    limiter = RateLimiter(redis_client, KEYS, limits={"Light": (50, 60.0)}, counters=counters)

    limiter.after_response("Light", Headers("Light", limit=20, remaining=20, window=60), None)
    limiter.after_response("Light", None, RateLimitedError("429", retry_after=3.0, group="Light"))

    assert limiter.state("Light").limit == 20
    assert 2.0 < limiter.state("Light").paused_for <= 3.0
    assert counters.all() == {"http_429_Light": 1}
    with pytest.raises(RateLimitedError):
        RateLimiter(redis_client, KEYS, max_wait=1.0).before_request("Light")


def test_a_slot_is_held_until_its_answer_then_for_one_window(redis_client: redis.Redis) -> None:
    """A request the platform counts late (slow, descheduled) cannot let the next one in early.

    One slot per second; the request's answer comes 0.6 s after its grant. One
    window after the grant the slot is still held; one window after the answer
    it is free.
    """
    limiter = _limiter(redis_client, limit=1, window=1.0)
    limiter.before_request("Light")
    granted = time.monotonic()
    time.sleep(0.6)
    limiter.after_response("Light", None, None)
    answered = time.monotonic()

    time.sleep(max(0.0, granted + 1.1 - time.monotonic()))
    held = limiter.try_acquire("Light")

    assert held > 0.0
    while limiter.try_acquire("Light") > 0.0:
        assert time.monotonic() < answered + 3.0, "the slot was never freed"
        time.sleep(0.02)


# -- one window per bot ------------------------------------------------------------


def test_each_bot_has_its_own_window_and_the_configured_bot_keeps_its_keys(
    redis_client: redis.Redis,
) -> None:
    """RingCentral counts per user: two installed bots and the configured bot, three windows."""
    limiter = _limiter(redis_client, limit=1, window=5.0)

    assert limiter.try_acquire("Light") == 0.0
    assert limiter.try_acquire("Light", bot="b2") == 0.0
    assert limiter.try_acquire("Light", bot="b3") == 0.0
    assert limiter.try_acquire("Light", bot="b2") > 0

    assert redis_client.zcard(KEYS.ratelimit("Light")) == 1
    assert redis_client.exists("test:ratelimit:Light") == 1  # as before installations
    assert limiter.state("Light", bot="b2").used == 1


def test_one_bots_429_pauses_that_bot_only(redis_client: redis.Redis) -> None:
    counters = Counters(redis_client, KEYS.counters, bot_key=KEYS.bot_counters)
    limiter = RateLimiter(redis_client, KEYS, limits={"Light": (50, 60.0)}, counters=counters)
    limiter.before_request("Light", bot="b2")

    limiter.after_response(
        "Light", None, RateLimitedError("429", retry_after=3.0, group="Light"), bot="b2"
    )

    assert 2.0 < limiter.state("Light", bot="b2").paused_for <= 3.0
    assert limiter.state("Light").paused_for == 0
    assert limiter.state("Light", bot="b3").paused_for == 0
    assert limiter.try_acquire("Light") == 0.0
    assert limiter.try_acquire("Light", bot="b3") == 0.0
    assert limiter.try_acquire("Light", bot="b2") > 2.0
    assert counters.of_bot("b2") == {"http_429_Light": 1}
    assert counters.all() == {"http_429_Light": 1}


def test_one_bots_headers_teach_that_bots_limit_only(redis_client: redis.Redis) -> None:
    limiter = _limiter(redis_client, limit=50, window=60.0)
    headers = Headers("Light", limit=3, remaining=0, window=60)

    limiter.after_response("Light", headers, None, bot="b2")

    assert limiter.state("Light", bot="b2").limit == 3
    assert limiter.state("Light", bot="b2").used == 3
    assert limiter.state("Light").limit == 50
    assert limiter.try_acquire("Light") == 0.0
    assert limiter.try_acquire("Light", bot="b2") > 0


def test_a_bots_slot_is_settled_in_its_own_window(redis_client: redis.Redis) -> None:
    """The slot a request of bot b2 held is settled in b2's window, not the configured bot's."""
    limiter = _limiter(redis_client, limit=1, window=5.0)

    limiter.before_request("Light", bot="b2")
    limiter.after_response("Light", None, None, bot="b2")

    assert limiter.state("Light", bot="b2").used == 1
    assert limiter.state("Light").used == 0


def test_an_answer_with_headers_settles_and_learns_in_one_round_trip(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slot moves to the answer's arrival and the headers' limit is learned, together."""
    limiter = _limiter(redis_client, limit=50, window=60.0)
    limiter.before_request("Light", bot="b3")  # the script loaded once, as in a running worker
    limiter.after_response(
        "Light", Headers("Light", limit=50, remaining=49, window=60), None, bot="b3"
    )
    limiter.before_request("Light", bot="b2")
    granted = redis_client.zrange(KEYS.ratelimit("Light", "b2"), 0, -1, withscores=True)
    time.sleep(0.01)
    calls = record_calls(redis_client, monkeypatch)

    limiter.after_response(
        "Light", Headers("Light", limit=4, remaining=2, window=60), None, bot="b2"
    )

    assert calls == ["EVALSHA"]
    settled = redis_client.zrange(KEYS.ratelimit("Light", "b2"), 0, -1, withscores=True)
    assert [member for member, _ in settled][:1] == [granted[0][0]]
    assert settled[0][1] > granted[0][1]  # moved to the answer's arrival
    assert limiter.state("Light", bot="b2").limit == 4
    assert limiter.state("Light", bot="b2").used == 2  # ours, and one more the platform counted
