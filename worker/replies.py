"""Post each reply exactly once, in its chat's order.

A reply carries a key derived from the event that caused it and its
position (``<event uuid>:<index>``). Before posting, the key is marked
*pending* in Redis; after, *done* with the post's id. A task that runs again
finds *done* and stops; one that finds *pending* (its worker died after the
POST may or may not have reached the platform) first looks for the post in
the chat through ``GET /glip/posts`` and claims it, and posts only when it is
not there. Each post is claimed by one key at most, so two identical replies
are both delivered.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import redis
from redis.exceptions import LockError
from redis.lock import Lock

from glipbot import log_events as ev
from glipbot.bot import Reply
from glipbot.contracts.chat_order import ChatTurns, Turn
from glipbot.errors import PermanentError, RateLimitedError, RetryLater
from glipbot.logging import get_logger
from glipbot.state.keys import Keys

#: A reply's lock lives this long unless its holder keeps extending it: a
#: worker that dies mid-POST frees its reply within seconds, not minutes.
LOCK_TTL = 6.0

#: How long reply records and post claims are kept.
REPLY_TTL = 7 * 24 * 3600
#: How far back in the chat a pending reply is looked for.
RECONCILE_DEPTH = 100
#: The platform's clock and ours may disagree by this much.
CLOCK_SKEW = 120.0
#: How long a reply waits for the replies before it in its chat.
ORDER_TIMEOUT = 60.0

_log = get_logger(__name__)


class PostsApi(Protocol):
    """The two calls the poster needs (``glipbot.platform.rest.RestClient`` has them)."""

    def create_post(
        self,
        group_id: str,
        text: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]: ...

    def list_posts(
        self, group_id: str, record_count: int = 30, page_token: str | None = None
    ) -> dict[str, Any]: ...


#: How soon a reply whose chat turn has not come, or that another worker is
#: posting right now, is tried again.
TURN_RETRY = 0.5
BUSY_RETRY = 1.0


@dataclass(frozen=True)
class Outgoing:
    """A reply on its way out: what the bot said, and where it stands in its chat."""

    reply: Reply
    seq: int | None = None  # the event's place in its chat; None = no ordering
    created: float = field(default_factory=time.time)

    @property
    def key(self) -> str:
        return self.reply.key

    @property
    def group_id(self) -> str:
        return self.reply.group_id

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for the ``replies`` queue."""
        return {**self.reply.to_json(), "seq": self.seq, "created": self.created}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outgoing:
        seq = data.get("seq")
        return cls(
            Reply.from_json(data),
            int(seq) if seq is not None else None,
            float(data.get("created") or time.time()),
        )


class ReplyPoster:
    """Posts replies once and in order; every worker process builds one."""

    def __init__(
        self,
        posts: PostsApi,
        client: redis.Redis,
        keys: Keys,
        bot_id: Callable[[], str],
        *,
        lock_ttl: float = LOCK_TTL,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._posts = posts
        self._redis = client
        self._keys = keys
        self._bot_id = bot_id
        self._lock_ttl = lock_ttl
        self._clock = clock
        self._sleep = sleep
        self.turns = ChatTurns(client, keys)

    def deliver(self, out: Outgoing, *, wait: float = 1.0) -> str:
        """Post ``reply`` when it is its turn; return the post id.

        Waits up to ``wait`` seconds for its turn, then raises
        :class:`~glipbot.errors.RetryLater` so the task can step aside and come back.
        After :data:`ORDER_TIMEOUT` it stops waiting for replies that never
        come and posts anyway (logged as ``chat_order_forced``).
        """
        self._wait_turn(out, wait)
        post_id = self.post_once(out.reply)
        self.done(out)
        return post_id

    def done(self, out: Outgoing) -> None:
        """Pass the chat's turn on after ``out`` (posted, or given up on)."""
        if out.seq is not None:
            self.turns.advance(out.group_id, out.seq, out.reply.index)

    def post_once(self, reply: Reply) -> str:
        """Post ``reply`` unless it was posted before; return the post's id."""
        record = self._keys.reply(reply.key)
        posted = self._redis.hget(record, "post_id")
        if posted:
            return str(posted)
        # thread_local=False: the heartbeat thread extends the lock it did not take.
        lock = self._redis.lock(
            f"{record}:lock", timeout=self._lock_ttl, blocking=False, thread_local=False
        )
        if not lock.acquire(blocking=False):
            raise RetryLater(
                f"reply {reply.key} is being posted by another worker", retry_after=BUSY_RETRY
            )
        stop = threading.Event()
        heartbeat = threading.Thread(target=_keep, args=(lock, stop, self._lock_ttl), daemon=True)
        heartbeat.start()
        try:
            return self._post_locked(reply, record)
        finally:
            stop.set()
            heartbeat.join()
            with contextlib.suppress(LockError):  # it lapsed, and may be another worker's now
                lock.release()

    def _post_locked(self, reply: Reply, record: str) -> str:
        state = self._redis.hgetall(record)
        if state.get("post_id"):
            return str(state["post_id"])
        if state.get("pending"):
            found = self._reconcile(reply, since=float(state["pending"]))
            if found:
                _log.warning(ev.REPLY_RECONCILED, reply_key=reply.key, post_id=found)
                return self._mark_done(reply, record, found)
        self._redis.hset(record, "pending", repr(self._clock()))
        self._redis.expire(record, REPLY_TTL)
        try:
            post = self._posts.create_post(
                reply.group_id, reply.text, [dict(a) for a in reply.attachments] or None
            )
        except (RateLimitedError, PermanentError):
            # The platform refused it: nothing was created, a retry may post.
            self._redis.hdel(record, "pending")
            raise
        # A 5xx or a lost connection leaves "pending": the next try reconciles.
        return self._mark_done(reply, record, str(post["id"]), claim=True)

    def _mark_done(self, reply: Reply, record: str, post_id: str, *, claim: bool = False) -> str:
        claims = self._keys.reply_claims(reply.group_id)
        pipe = self._redis.pipeline()
        if claim:
            pipe.sadd(claims, post_id)
            pipe.expire(claims, REPLY_TTL)
        pipe.hset(record, mapping={"post_id": post_id})
        pipe.hdel(record, "pending")
        pipe.expire(record, REPLY_TTL)
        pipe.execute()
        return post_id

    def _reconcile(self, reply: Reply, since: float) -> str | None:
        """Find the bot's post of this reply made since ``since`` and not claimed yet."""
        bot = self._bot_id()
        page = self._posts.list_posts(reply.group_id, record_count=RECONCILE_DEPTH)
        claims = self._keys.reply_claims(reply.group_id)
        for post in reversed(page.get("records") or []):  # oldest first
            if str(post.get("creatorId")) != bot or not _same_content(post, reply):
                continue
            if _epoch(post.get("creationTime")) < since - CLOCK_SKEW:
                continue
            if self._redis.sadd(claims, str(post["id"])):
                self._redis.expire(claims, REPLY_TTL)
                return str(post["id"])
        return None

    def _wait_turn(self, out: Outgoing, wait: float) -> None:
        if out.seq is None:
            return
        index = out.reply.index
        deadline = self._clock() + wait
        while True:
            state = self.turns.check(out.group_id, out.seq, index)
            if state.turn is not Turn.WAIT:
                return
            if self._clock() - out.created > ORDER_TIMEOUT:
                self.turns.force(out.group_id, out.seq, index)
                _log.warning(
                    ev.CHAT_ORDER_FORCED,
                    reply_key=out.key,
                    group_id=out.group_id,
                    waited_for=list(state.current),
                )
                return
            if self._clock() >= deadline:
                raise RetryLater(
                    f"reply {out.key} waits for {state.current} in chat {out.group_id}",
                    retry_after=TURN_RETRY,
                )
            self._sleep(0.02)


def _keep(lock: Lock, stop: threading.Event, ttl: float) -> None:
    """Extend ``lock`` every third of its TTL until ``stop`` is set or the lock is lost."""
    while not stop.wait(ttl / 3):
        try:
            lock.extend(ttl, replace_ttl=True)
        except (LockError, redis.RedisError):
            _log.warning(ev.REPLY_LOCK_LOST, lock=str(lock.name))
            return


def _same_content(post: dict[str, Any], reply: Reply) -> bool:
    return (post.get("text") or "") == (reply.text or "") and _titles(
        post.get("attachments")
    ) == _titles(reply.attachments)


def _titles(attachments: Sequence[Mapping[str, Any]] | None) -> list[Any]:
    return [(a.get("type"), a.get("title"), a.get("text")) for a in attachments or ()]


def _epoch(iso: Any) -> float:
    if not isinstance(iso, str):
        return 0.0
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
