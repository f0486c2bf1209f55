"""Where a transport starts reading a channel: the resume policy.

Before the first event of a subscription can travel (transport → ingest →
queue), the transport must be told from which PubNub timetoken to read. The
keeper hands over each adopted subscription (:mod:`listener.subscription`),
and this policy answers:

* a channel this process just **created**: nothing on it predates the
  creation, so read from :data:`NEW_CHANNEL_LOOKBACK` seconds ago; it absorbs
  clock skew and catches what was published before we subscribed (and that
  point is stored, when nothing is, for a successor);
* a **reused** channel (a restart, a new leader, a renewal that moved the
  channel): from the stored timetoken, the last one whose events ingest
  enqueued, so a change of hands replays and never skips; with none stored,
  from now.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis.asyncio as aioredis

from glipbot.state.keys import Keys
from listener.subscription import SubscriptionInfo

#: Seconds before now where a brand-new channel is read from.
NEW_CHANNEL_LOOKBACK = 60.0
#: PubNub timetokens count tenths of microseconds since the epoch.
TIMETOKENS_PER_SECOND = 10_000_000


async def resume_timetoken(
    subscription: SubscriptionInfo,
    client: aioredis.Redis,
    keys: Keys,
    *,
    clock: Callable[[], float] = time.time,
) -> int | None:
    """The timetoken to resume ``subscription``'s channel from (None: from now).

    For a channel created now, the resume point is also stored when none is
    (nothing was enqueued from it yet): a successor that takes it over before
    its first event resumes from there too, not from its own "now". Ask
    :func:`deaf_since` first: it judges by what was stored before.
    """
    if subscription.created:
        start = int((clock() - NEW_CHANNEL_LOOKBACK) * TIMETOKENS_PER_SECOND)
        await client.set(keys.timetoken, str(start), nx=True)
        return start
    raw = await client.get(keys.timetoken)
    return int(raw) if raw else None


#: PubNub keeps a channel's messages about this long (and at most 100 of them);
#: a resume point older than this may have lost events for good.
PUBNUB_RETENTION = 15 * 60.0


async def deaf_since(
    subscription: SubscriptionInfo,
    client: aioredis.Redis,
    keys: Keys,
    *,
    clock: Callable[[], float] = time.time,
) -> float | None:
    """When a window of deafness began, if adopting ``subscription`` follows one; else None.

    A channel this process **created** replaces one that was lost, expired or
    never read: nothing before its creation will be replayed on it. A
    **reused** channel whose resume point is older than PubNub's retention
    may have dropped what came after it. Either way the window began at the
    last event enqueued (the stored timetoken). With none stored, nothing was
    ever consumed: there is nothing to recover.
    """
    raw = await client.get(keys.timetoken)
    if not raw:
        return None
    last = int(raw) / TIMETOKENS_PER_SECOND
    if subscription.created or clock() - last > PUBNUB_RETENTION:
        return last
    return None
