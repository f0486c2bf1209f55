"""One rate limit for the whole cluster, per bot and rate-limit group.

Every worker process asks Redis for a slot before calling the platform. A
Lua script keeps a sliding-window log per group (a sorted set of grant
times), so the check and the grant are one atomic step however many workers
ask at once. The clock is Redis's own (``TIME``), so workers on machines
whose clocks disagree still share one window.

A slot is held from its grant until the response arrives, then for one
window from that moment (:meth:`RateLimiter.settle`): the platform counts a
request when it arrives, which is after we granted it and before we see the
answer, so however late a slow or descheduled request reaches the platform,
our window never frees its slot before the platform's does. That is what
keeps a loaded cluster at zero 429s; it costs one round trip's share of each
window.

The limits start at RingCentral's defaults and are corrected from the
``X-Rate-Limit-*`` headers of every response (:meth:`RateLimiter.observe`);
a 429 pauses the group for every worker (:meth:`RateLimiter.pause`).

**Per bot.** RingCentral counts requests per user and app, and every bot
installation is a user of its own. So each bot has its own window, learned
limits and pause per group: every method takes ``bot``, the installed bot's
id (``None``, the default, is the configured bot, whose keys are what they
always were). One bot's 429 pauses that bot only. The REST client of an
installed bot names it on every call (see
:class:`glipbot.platform.http.RequestHook`).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

import redis

from glipbot.errors import PlatformError, RateLimitedError
from glipbot.state.counters import Counters
from glipbot.state.keys import Keys

#: RingCentral's published limits: requests per window (seconds), per group.
DEFAULT_LIMITS: Mapping[str, tuple[int, float]] = {
    "Light": (50, 60.0),
    "Medium": (40, 60.0),
    "Heavy": (10, 60.0),
    "Auth": (5, 60.0),
}

#: How long a request may wait for a slot before its task is retried instead.
DEFAULT_MAX_WAIT = 10.0

#: Slots are held until the response (see the module docstring), so the
#: window needs only a small margin for clock granularity and the time between
#: the platform's answer and our settling it.
SAFETY_FRACTION = 0.01
MIN_SAFETY = 0.02

# KEYS: log, penalty, limits. ARGV: default limit, default window ms, safety ms, member.
# Returns {granted (1/0), wait ms}.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local penalty = redis.call('PTTL', KEYS[2])
if penalty > 0 then return {0, penalty} end
local limit = tonumber(redis.call('HGET', KEYS[3], 'limit') or ARGV[1])
local window = tonumber(redis.call('HGET', KEYS[3], 'window_ms') or ARGV[2]) + tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0}
end
local freeing = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
local wait = tonumber(freeing[2]) + window - now
if wait < 1 then wait = 1 end
return {0, wait}
"""

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# Learns the platform's limit and, when the platform has counted more requests
# than we have (another client with the same credentials), records the
# difference so we slow down with it. Returns how many it recorded.
_OBSERVE_FN = """
local function observe(log, limits, limit, window, remaining, safety, prefix)
  limit, window, safety = tonumber(limit), tonumber(window), tonumber(safety)
  redis.call('HSET', limits, 'limit', limit, 'window_ms', window)
  redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window - safety)
  local count = redis.call('ZCARD', log)
  local used = limit - tonumber(remaining)
  for i = count + 1, used do
    redis.call('ZADD', log, now, prefix .. i)
  end
  redis.call('PEXPIRE', log, window + safety)
  return used - count
end
"""

# Moves a granted slot to now (the response's arrival) so it is freed one
# window after the platform counted it.
_SETTLE_FN = """
local function settle(log, limits, member, default_window, safety)
  local window = tonumber(redis.call('HGET', limits, 'window_ms') or default_window)
  window = window + tonumber(safety)
  if redis.call('ZADD', log, 'XX', 'CH', now, member) == 1 then
    redis.call('PEXPIRE', log, window)
  end
  return 1
end
"""

# KEYS: log, limits. ARGV: limit, window ms, remaining, safety ms, member prefix.
_OBSERVE = (
    _NOW_MS + _OBSERVE_FN + "return observe(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], "
    "ARGV[5])"
)

# KEYS: log, limits. ARGV: member, default window ms, safety ms.
_SETTLE = _NOW_MS + _SETTLE_FN + "return settle(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])"

# Both, for one answer (one round trip): KEYS: log, limits. ARGV: settle's
# three, then observe's five.
_ANSWERED = (
    _NOW_MS
    + _SETTLE_FN
    + _OBSERVE_FN
    + """
settle(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])
return observe(KEYS[1], KEYS[2], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
"""
)

# KEYS: penalty. ARGV: pause ms. Extends, never shortens, a running pause.
_PAUSE = """
local current = redis.call('PTTL', KEYS[1])
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return redis.call('PTTL', KEYS[1])
"""


class RateLimitHeaders(Protocol):
    """What the platform said about a group (``glipbot.platform.http.RateLimitInfo``)."""

    @property
    def group(self) -> str: ...
    @property
    def limit(self) -> int: ...
    @property
    def remaining(self) -> int: ...
    @property
    def window(self) -> int: ...


@dataclass(frozen=True)
class GroupState:
    """A group's limit as the cluster sees it now (for status reports)."""

    group: str
    limit: int
    window: float
    used: int
    paused_for: float


class RateLimiter:
    """The cluster-wide limiter; cheap to build, safe to share between threads."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        *,
        limits: Mapping[str, tuple[int, float]] = DEFAULT_LIMITS,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = DEFAULT_MAX_WAIT,
        counters: Counters | None = None,
    ) -> None:
        self._redis = client
        self._counters = counters
        self.max_wait = max_wait
        self._keys = keys
        self._limits = dict(limits)
        self._sleep = sleep
        self._acquire = client.register_script(_ACQUIRE)
        self._observe = client.register_script(_OBSERVE)
        self._pause = client.register_script(_PAUSE)
        self._settle = client.register_script(_SETTLE)
        self._answered = client.register_script(_ANSWERED)
        # Slots granted to this thread's requests in flight, settled by after_response.
        self._in_flight = threading.local()

    def try_acquire(self, group: str, *, bot: str | None = None) -> float:
        """Take a slot in ``group`` if one is free: 0.0, else the seconds to wait."""
        return self._try(group, bot)[0]

    def _try(self, group: str, bot: str | None) -> tuple[float, str]:
        limit, window = self._default(group)
        member = uuid.uuid4().hex
        granted, wait_ms = self._acquire(
            keys=self._group_keys(group, bot),
            args=[limit, int(window * 1000), _safety_ms(window), member],
        )
        return (0.0, member) if int(granted) else (int(wait_ms) / 1000, "")

    def acquire(self, group: str, *, max_wait: float, bot: str | None = None) -> str:
        """Block until a slot in ``group`` is granted; return the slot's id for :meth:`settle`.

        When the next free slot is further away than ``max_wait`` seconds,
        raise :class:`~glipbot.errors.RateLimitedError` with ``retry_after``
        instead, so a Celery task can be retried later rather than hold its
        worker.
        """
        while True:
            wait, member = self._try(group, bot)
            if wait == 0.0:
                return member
            if wait > max_wait:
                whose = "" if bot is None else f" of bot {bot}"
                raise RateLimitedError(
                    f"rate-limit group {group}{whose} is full for {wait:.1f}s",
                    retry_after=wait,
                    group=group,
                )
            self._sleep(wait)

    def observe(self, headers: RateLimitHeaders, *, bot: str | None = None) -> None:
        """Correct the group's limit from the platform's ``X-Rate-Limit-*`` headers."""
        if _learnable(headers):
            self._observe(keys=self._log_keys(headers.group, bot), args=self._observed(headers))

    def settle(self, group: str, slot: str, *, bot: str | None = None) -> None:
        """The request of ``slot`` was answered (or failed) now: free it one window from now."""
        self._settle(keys=self._log_keys(group, bot), args=self._settled(group, slot))

    def _log_keys(self, group: str, bot: str | None) -> list[str]:
        return [self._keys.ratelimit(group, bot), self._keys.ratelimit_limits(group, bot)]

    def _settled(self, group: str, slot: str) -> list[str | int]:
        _, window = self._default(group)
        return [slot, int(window * 1000), _safety_ms(window)]

    def _observed(self, headers: RateLimitHeaders) -> list[str | int]:
        return [
            headers.limit,
            int(headers.window * 1000),
            max(headers.remaining, 0),
            _safety_ms(headers.window),
            f"platform:{uuid.uuid4().hex}:",
        ]

    def pause(self, group: str, seconds: float, *, bot: str | None = None) -> None:
        """Stop every worker from calling ``group`` (for ``bot``) for ``seconds`` (after a 429)."""
        self._pause(
            keys=[self._keys.ratelimit_penalty(group, bot)], args=[max(1, int(seconds * 1000))]
        )

    # -- the REST client's RequestHook: every call goes through the limiter --

    @contextlib.contextmanager
    def without_waiting(self) -> Iterator[None]:
        """Within the block, this thread's requests take a free slot or fail at once
        (:class:`~glipbot.errors.RateLimitedError`) rather than wait for one."""
        previous = getattr(self._in_flight, "max_wait", None)
        self._in_flight.max_wait = 0.0
        try:
            yield
        finally:
            self._in_flight.max_wait = previous

    def before_request(self, group: str, *, bot: str | None = None) -> None:
        """Wait for a slot in ``group`` of ``bot`` (up to ``max_wait``, else RateLimitedError)."""
        max_wait = getattr(self._in_flight, "max_wait", None)
        slot = self.acquire(
            group, max_wait=self.max_wait if max_wait is None else max_wait, bot=bot
        )
        self._slots().append((group, bot, slot))

    def after_response(
        self,
        group: str,
        rate_limit: RateLimitHeaders | None,
        error: PlatformError | None,
        *,
        bot: str | None = None,
    ) -> None:
        """Settle the request's slot; learn from the headers; a 429 pauses the group (of ``bot``
        only)."""
        slots = self._slots()
        slot = slots.pop()[2] if slots and slots[-1][:2] == (group, bot) else None
        if slot and rate_limit is not None and rate_limit.group == group and _learnable(rate_limit):
            settled, observed = self._settled(group, slot), self._observed(rate_limit)
            self._answered(keys=self._log_keys(group, bot), args=[*settled, *observed])
        else:
            if slot:
                self.settle(group, slot, bot=bot)
            if rate_limit is not None:
                self.observe(rate_limit, bot=bot)
        if isinstance(error, RateLimitedError):
            self.pause(error.group or group, error.retry_after, bot=bot)
            if self._counters is not None:
                self._counters.incr(f"http_429_{error.group or group}", bot=bot)

    def state(self, group: str, *, bot: str | None = None) -> GroupState:
        """The group's current limit, use and pause, read without taking a slot."""
        default_limit, default_window = self._default(group)
        learned = self._redis.hgetall(self._keys.ratelimit_limits(group, bot))
        limit = int(learned.get("limit", default_limit))
        window = int(learned.get("window_ms", default_window * 1000)) / 1000
        now_s, now_us = self._redis.time()
        now_ms = now_s * 1000 + now_us // 1000
        log = self._keys.ratelimit(group, bot)
        horizon = now_ms - window * 1000 - _safety_ms(window)
        used = int(self._redis.zcount(log, f"({horizon}", "+inf"))
        paused_ms = int(self._redis.pttl(self._keys.ratelimit_penalty(group, bot)))
        return GroupState(group, limit, window, used, max(paused_ms, 0) / 1000)

    def groups(self) -> list[str]:
        """Every group with a known default limit."""
        return list(self._limits)

    def _slots(self) -> list[tuple[str, str | None, str]]:
        slots: list[tuple[str, str | None, str]] | None = getattr(self._in_flight, "slots", None)
        if slots is None:
            slots = self._in_flight.slots = []
        return slots

    def _default(self, group: str) -> tuple[int, float]:
        return self._limits.get(group, DEFAULT_LIMITS["Heavy"])

    def _group_keys(self, group: str, bot: str | None) -> list[str]:
        return [
            self._keys.ratelimit(group, bot),
            self._keys.ratelimit_penalty(group, bot),
            self._keys.ratelimit_limits(group, bot),
        ]


def _learnable(headers: RateLimitHeaders) -> bool:
    """Whether the headers carry a limit to learn (both the limit and the window)."""
    return headers.limit > 0 and headers.window > 0


def _safety_ms(window: float) -> int:
    return int(max(MIN_SAFETY, window * SAFETY_FRACTION) * 1000)
