"""Keep one platform subscription alive: reuse, create, renew, re-create, clean up.

The REST client is synchronous and is called through ``asyncio.to_thread``.
Time and sleep are injectable: :meth:`SubscriptionKeeper.step` does what is
due now and returns the seconds until the next thing is due, so unit tests
drive it with a fake clock.

Renewal happens at ``expiry - margin`` with ``margin = min(renew_margin,
lifetime / 3)``; a failed renewal is retried after the project's back-off
(:class:`glipbot.retry.RetryPolicy`: capped, exponential, with jitter),
never later than a third of the remaining lifetime. A 404 (deleted, or
expired) or an expiry without renewal re-creates the subscription and moves
the transport (``on_change``: see :mod:`listener.resume` for where it
resumes). While no live subscription exists the keeper is *failing*: every
attempt logs an error and health answers 503, and the window is reported as
a gap (:mod:`listener.subscription.gaps`).

Before acting on the platform, a step asks ``leading()`` (the lease, read in
Redis) whether this reign still holds the lease: a leader that was stopped
(SIGSTOP, a long pause) and resumes after a successor took over must not
re-create, or delete, the subscription its successor is reading. It waits
instead, until its reign is ended.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

import redis.asyncio as aioredis

from glipbot import log_events as ev
from glipbot.errors import LoginRefusedError, NotFoundError, RateLimitedError
from glipbot.logging import get_logger
from glipbot.redaction import register_secret
from glipbot.retry import RetryPolicy
from glipbot.state.keys import Keys
from listener.metrics import Metrics
from listener.subscription.gaps import GapLog
from listener.subscription.info import (
    EVENT_FILTERS,
    OnChange,
    SubscriptionApi,
    SubscriptionInfo,
)

log = get_logger(__name__)

#: Back-off of failed attempts: 0.5 s doubling up to 30 s, jittered, never giving up.
RETRY_POLICY = RetryPolicy(max_attempts=None, base=0.5, cap=30.0)
MIN_RETRY = 0.1
#: Seconds a keeper that no longer leads waits between two looks at the lease.
NOT_LEADING_PAUSE = 1.0
#: A channel quiet this long has its subscription checked this often (instead of
#: ``check_interval``): a subscription the platform dropped shows no error, only
#: silence, and a quiet channel leaves the Light group's budget unused anyway.
QUIET_CHECK = 20.0


class SubscriptionKeeper:
    """Owns the subscription while this process leads."""

    def __init__(
        self,
        api: SubscriptionApi,
        client: aioredis.Redis,
        keys: Keys,
        metrics: Metrics,
        on_change: OnChange,
        *,
        expires_in: int,
        renew_margin: float,
        check_interval: float,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        retry: RetryPolicy = RETRY_POLICY,
        leading: Callable[[], Awaitable[bool]] | None = None,
        last_event_at: Callable[[], float | None] = lambda: None,
        renew_spread: float = 0.0,
    ) -> None:
        """``renew_spread``: renew up to this fraction of the margin later than
        ``expiry - margin``, at a point fixed per keeper, so that many keepers'
        subscriptions created together are renewed apart."""
        self._api = api
        self._redis = client
        self._keys = keys
        self._metrics = metrics
        self._on_change = on_change
        self._expires_in = expires_in
        self._renew_margin = renew_margin
        self._check_interval = check_interval
        self._clock = clock
        self._sleep = sleep
        self._retry = retry
        self._leading = leading
        self._last_event_at = last_event_at
        self.current: SubscriptionInfo | None = None
        self._confirmed_at: float | None = None  # last time the platform vouched for it
        self._lost_since: float | None = None
        self._failures = 0
        #: The error of the last failed attempt (None once one succeeds); health reads it.
        self.last_error: Exception | None = None
        self._retry_at: float | None = None
        self._next_check = 0.0
        self._requests: set[str] = set()
        self._wake = asyncio.Event()
        self._gaps = GapLog(client, keys, metrics)
        self._renew_delay = renew_spread * random.random()

    # -- state read by health ------------------------------------------------

    def expires_in(self) -> float | None:
        """Seconds until the current subscription expires (negative: past), or None."""
        return None if self.current is None else self.current.expires_at - self._clock()

    @property
    def subscription_id(self) -> str | None:
        """The current subscription's id, or None."""
        return None if self.current is None else self.current.id

    @property
    def failures(self) -> int:
        """Failed attempts in a row (renewal, creation or check); 0 after a success."""
        return self._failures

    def live(self) -> bool:
        """Whether a subscription exists that has not expired."""
        remaining = self.expires_in()
        return remaining is not None and remaining > 0 and self._lost_since is None

    def request(self, command: str) -> None:
        """Ops hook: ``renew`` or ``recreate`` at the next step."""
        self._requests.add(command)
        self._wake.set()

    # -- the loop -------------------------------------------------------------

    async def run(self) -> None:
        """Step forever (until cancelled), sleeping until the next due time or a request."""
        while True:
            delay = await self.step()
            self._wake.clear()
            if self._requests:
                continue
            sleeper = asyncio.ensure_future(self._sleep(delay))
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()

    async def step(self) -> float:
        """Do whatever is due now; return the seconds until something is due again."""
        now = self._clock()
        if self._retry_at is not None and now < self._retry_at and not self._requests:
            return self._retry_at - now
        try:
            if self._leading is not None and not await self._leading():
                log.warning(ev.SUBSCRIPTION_STEP_SKIPPED, reason="lease_not_held")
                return NOT_LEADING_PAUSE
            if self.current is None:
                await self._establish()
            elif "recreate" in self._requests:
                self._requests.discard("recreate")
                await self._replace("ops_command")
            elif now >= self.current.expires_at or self._lost_since is not None:
                # Expired: the platform stopped publishing at expires_at.
                self._mark_lost("expired", since=self.current.expires_at)
                await self._replace("lost")
            elif "renew" in self._requests or now >= self._renew_at():
                self._requests.discard("renew")
                await self._renew()
            elif now >= self._next_check:
                await self._check()
            elif now >= self._quiet_check_at():
                self._metrics.inc("subscription_checks_quiet")
                await self._check()
        except NotFoundError as exc:
            if self.current is None or self._lost_since is not None:
                return self._failed(exc)
            self._mark_lost("not_found")
            return 0.0
        except Exception as exc:
            return self._failed(exc)
        self._failures, self._retry_at, self.last_error = 0, None, None
        assert self.current is not None
        now = self._clock()
        due = min(
            self._renew_at(), self._next_check, self._quiet_check_at(), self.current.expires_at
        )
        return max(0.0, due - now)

    def _quiet_check_at(self) -> float:
        """When the subscription is next checked early because its channel went quiet."""
        heard = max(self._confirmed_at or 0.0, self._last_event_at() or 0.0)
        return heard + QUIET_CHECK

    def _renew_at(self) -> float:
        assert self.current is not None
        margin = min(self._renew_margin, self.current.lifetime / 3)
        return self.current.expires_at - margin * (1 - self._renew_delay)

    def _failed(self, exc: Exception) -> float:
        self._failures += 1
        self.last_error = exc
        now = self._clock()
        remaining = self.expires_in()
        if self.current is not None and self._lost_since is None:
            self._metrics.inc("renewal_failures")
        policy = self._retry
        if remaining is not None and remaining > 0:
            # Never later than a third of what is left: a tighter cap, jittered like the rest.
            policy = replace(policy, cap=min(policy.cap, remaining / 3))
        delay = max(MIN_RETRY, policy.backoff(self._failures))
        if isinstance(exc, RateLimitedError):
            # A call during the platform's penalty restarts it: wait it out,
            # even past the subscription's expiry (re-created afterwards).
            delay = max(delay, exc.retry_after)
        elif isinstance(exc, LoginRefusedError) and exc.retry_after:
            # Refused credentials: the token store tries them again at retry_after.
            delay = max(delay, exc.retry_after)
        self._retry_at = now + delay
        level = log.error if not self.live() or self._failures >= 3 else log.warning
        level(
            ev.SUBSCRIPTION_ATTEMPT_FAILED,
            subscription_id=self.current.id if self.current else None,
            error=type(exc).__name__,
            detail=str(exc),
            failures=self._failures,
            expires_in=remaining,
            retry_in=round(delay, 3),
            live=self.live(),
        )
        return delay

    # -- actions ---------------------------------------------------------------

    async def _establish(self) -> None:
        stored = await self._redis.get(self._keys.subscription_id)
        info: SubscriptionInfo | None = None
        if stored:
            stored_id = stored.decode() if isinstance(stored, bytes) else str(stored)
            try:
                data = await asyncio.to_thread(self._api.get_subscription, stored_id)
                if data.get("status", "Active") == "Active":
                    info = SubscriptionInfo.from_api(data, self._clock())
                    log.info(ev.SUBSCRIPTION_REUSED, subscription_id=info.id)
            except NotFoundError:
                log.error(ev.SUBSCRIPTION_LOST, subscription_id=stored_id, reason="not_found")
                self._metrics.inc("subscription_gaps")
            except (KeyError, ValueError):
                log.warning(ev.SUBSCRIPTION_UNUSABLE, subscription_id=stored_id)
        if info is None:
            info = await self._create()
        await self._adopt(info, None)
        await self._cleanup()

    async def _create(self) -> SubscriptionInfo:
        data = await asyncio.to_thread(
            self._api.create_subscription, list(EVENT_FILTERS), self._expires_in
        )
        info = SubscriptionInfo.from_api(data, self._clock(), created=True)
        await self._redis.sadd(self._keys.subscriptions_created, info.id)
        log.info(ev.SUBSCRIPTION_CREATED, subscription_id=info.id, expires_in=info.lifetime)
        return info

    async def _adopt(self, info: SubscriptionInfo, old: SubscriptionInfo | None) -> None:
        register_secret(info.encryption_key, info.subscriber_key, rotating=True)
        await self._redis.set(self._keys.subscription_id, info.id)
        await self._on_change(info, old)
        self.current = info
        self._confirmed_at = self._clock()
        self._next_check = self._confirmed_at + self._check_interval

    async def _renew(self) -> None:
        assert self.current is not None
        data = await asyncio.to_thread(self._api.renew_subscription, self.current.id)
        info = SubscriptionInfo.from_api(data, self._clock())
        self._metrics.inc("renewals")
        log.info(ev.SUBSCRIPTION_RENEWED, subscription_id=info.id, expires_in=info.lifetime)
        if (info.address, info.subscriber_key) != (
            self.current.address,
            self.current.subscriber_key,
        ):
            await self._adopt(info, self.current)
        else:
            self.current = info
            self._confirmed_at = self._clock()

    async def _check(self) -> None:
        assert self.current is not None
        data = await asyncio.to_thread(self._api.get_subscription, self.current.id)
        self._next_check = self._clock() + self._check_interval
        if data.get("status", "Active") != "Active":
            log.error(
                ev.SUBSCRIPTION_INACTIVE, subscription_id=self.current.id, status=data.get("status")
            )
            self._mark_lost("inactive")
            return
        self._confirmed_at = self._clock()

    def _mark_lost(self, reason: str, since: float | None = None) -> None:
        if self._lost_since is None and self.current is not None:
            confirmed = self._confirmed_at or self._clock()
            self._lost_since = min(since, self._clock()) if since is not None else confirmed
            log.error(ev.SUBSCRIPTION_LOST, subscription_id=self.current.id, reason=reason)

    async def _replace(self, reason: str) -> None:
        old = self.current
        new = await self._create()
        await self._adopt(new, old)
        self._metrics.inc("recreations")
        if self._lost_since is not None:
            await self._record_gap(old, new)
        elif old is not None:
            await self._delete(old.id)

    async def _record_gap(self, old: SubscriptionInfo | None, new: SubscriptionInfo) -> None:
        start, end = self._lost_since or self._clock(), self._clock()
        self._lost_since = None
        await self._gaps.record(start, end, old=old.id if old else None, new=new.id)
        if old is not None:
            await self._delete(old.id)

    async def _cleanup(self) -> None:
        """Delete subscriptions this bot created earlier that are not the current one."""
        assert self.current is not None
        try:
            ours = {
                m.decode() if isinstance(m, bytes) else str(m)
                for m in await self._redis.smembers(self._keys.subscriptions_created)
            }
            existing = {
                str(s.get("id")) for s in await asyncio.to_thread(self._api.list_subscriptions)
            }
            for stale in sorted(ours - {self.current.id}):
                if stale in existing:
                    await self._delete(stale)
                else:
                    await self._redis.srem(self._keys.subscriptions_created, stale)
        except Exception as exc:  # cleanup is best effort; the next start retries it
            log.warning(ev.SUBSCRIPTION_CLEANUP_FAILED, error=type(exc).__name__, detail=str(exc))

    async def _delete(self, subscription_id: str) -> None:
        try:
            await asyncio.to_thread(self._api.delete_subscription, subscription_id)
            log.info(ev.SUBSCRIPTION_DELETED, subscription_id=subscription_id)
        except NotFoundError:
            pass
        except Exception as exc:
            log.warning(
                ev.SUBSCRIPTION_DELETE_FAILED,
                subscription_id=subscription_id,
                error=type(exc).__name__,
            )
            return
        await self._redis.srem(self._keys.subscriptions_created, subscription_id)
