"""Post each reply exactly once, in its chat's order.

A reply carries a key derived from the event that caused it and its
position (``<event uuid>:<index>``). It travels as a ledger entry
(:mod:`glipbot.contracts.ledger`): :meth:`ReplyPoster.enqueue` records it and
pushes its task in one step, and :meth:`ReplyPoster.done` forgets it once it
is posted or dead-lettered, so a reply lost on its way is sent again by the
reaper.

**Order.** A reply whose chat turn has not come parks in the chat and its
task ends; the reply before it sends it again when it is done
(:mod:`glipbot.contracts.chat_order`): it hands it to the worker that
posted it, which posts it too while it can go at once, or else pushes its
task. The record, the turn, the lock, the claim and the ledger entry each
side of a POST are one Redis script (:data:`_BEGIN`, :data:`_FINISH`).

**Once.** Before posting, the key is marked *pending* in Redis; after, *done*
with the post's id. A task that runs again finds *done* and stops. One that
finds *pending* (the POST timed out, lost its connection or met a 5xx: it
may have been made, or may still be made by the platform a little later)
looks for the post in the chat through ``GET /glip/posts`` and claims it.
It posts again only when the *settle window* (:func:`settle_window`, twice
the HTTP timeout) has passed since that POST began and the post is still
not there, waiting for it with :class:`~glipbot.errors.RetryLater`, never by
sleeping. If the first POST lands even later, the reply is watched
(:class:`~worker.reconcile.DuplicateWatch`) and the extra post deleted. Each
post is claimed by one key at most, so two identical replies are both
delivered.

**As its installation.** A reply carries the installed bot that posts it
(:attr:`Outgoing.bot_id`; none for the configured bot, as in every message
written before installations existed). It is posted with that bot's client,
its "own post" checks use that bot's id, and its record, claims, ledger entry
and chat turn are that bot's (:mod:`worker.installations`).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.exceptions import LockError

from glipbot import log_events as ev
from glipbot.bot import Reply
from glipbot.contracts.chat_order import TURNS_LUA, Chat, ChatTurns
from glipbot.contracts.ledger import Entry, Ledger, reply_entry
from glipbot.contracts.messages import Built, task_arguments
from glipbot.contracts.queues import REPLY_BOT_ID
from glipbot.errors import PermanentError, RateLimitedError, RetryLater
from glipbot.logging import get_logger
from glipbot.state.counters import Counters
from glipbot.state.keys import Keys
from worker.errors import UNKNOWN, UnknownInstallationError
from worker.lock_keeper import LockKeeper
from worker.reconcile import REPLY_TTL, DuplicateWatch, Posts, PostsApi

#: A reply's lock lives this long unless its holder keeps extending it: a
#: worker that dies mid-POST frees its reply within seconds, not minutes.
LOCK_TTL = 6.0
#: The settle window is this many times the HTTP timeout (see :func:`settle_window`).
SETTLE_FACTOR = 2.0
#: The settle window with the default HTTP timeout (15 s).
DEFAULT_SETTLE = SETTLE_FACTOR * 15.0

#: ``without_waiting()``: a context in which the rate limiter grants a free slot or
#: refuses at once (:meth:`glipbot.platform.ratelimit.RateLimiter.without_waiting`).
NoWait = Callable[[], contextlib.AbstractContextManager[None]]

#: How long :meth:`ReplyPoster.send` goes on posting the replies handed over to it
#: (a busy chat's next ones) before it leaves them to the queue: a task stays short,
#: well within its time limit and the ledger's progress bound.
HANDOVER_BUDGET = 5.0

#: How soon a reply that cannot park (it is not in the ledger) asks for its
#: turn again, and how soon one that another worker is posting right now is tried again.
TURN_RETRY = 0.5
BUSY_RETRY = 1.0

_log = get_logger(__name__)

# The two steps around a POST, each one script (and one round trip).
# KEYS 1-7: chat_turn's (glipbot.contracts.chat_order.TURNS_LUA), 8 the reply's
# record, 9 its lock. ARGV 1: "1" when the reply has a turn, 2-8: chat_turn's n,
# x, ttl, now, bound, chat, the reply's ledger id ("" for none).
_TURN_ARGS = """
local ordered, n, x = ARGV[1] == '1', tonumber(ARGV[2]), tonumber(ARGV[3])
local ttl, now, bound = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local chat, entry = ARGV[7], ARGV[8]
"""

# Before: posted already? its turn (or park)? take the lock (ARGV 9 token, 10 its
# ms), mark the record pending (its TTL ARGV 11) unless an earlier POST's mark is
# there. Returns {outcome, detail}: posted (the post id), parked and wait (the
# turn), busy, fresh and unsure (the record as it was, flat).
_BEGIN = (
    TURNS_LUA
    + _TURN_ARGS
    + """
local posted = redis.call('HGET', KEYS[8], 'post_id')
if posted then return {'posted', posted} end
if ordered then
  local t = chat_turn(KEYS, 'park', n, x, ttl, now, bound, chat, entry, '0')
  if t[1] == 3 then return {'parked', t[2] .. ':' .. t[3]} end
  if t[1] == 1 then return {'wait', t[2] .. ':' .. t[3]} end
end
if not redis.call('SET', KEYS[9], ARGV[9], 'NX', 'PX', ARGV[10]) then return {'busy', ''} end
local state = redis.call('HGETALL', KEYS[8])
if redis.call('HEXISTS', KEYS[8], 'pending') == 1 then return {'unsure', state} end
redis.call('HSET', KEYS[8], 'pending', ARGV[5])
redis.call('EXPIRE', KEYS[8], ARGV[11])
return {'fresh', state}
"""
)

# After: the record says done (ARGV 11 the post id, 10 its TTL), the lock (ARGV 9
# token) is freed, the post claimed (KEYS 10), the turn passed on (ARGV 12 "1":
# the reply now due is handed to the caller), the reply forgotten in the ledger
# (KEYS 11 its reaps). Returns {woken id, woken entry when handed over}.
_FINISH = (
    TURNS_LUA
    + _TURN_ARGS
    + """
redis.call('HSET', KEYS[8], 'post_id', ARGV[11])
redis.call('HDEL', KEYS[8], 'pending')
redis.call('EXPIRE', KEYS[8], ARGV[10])
if redis.call('GET', KEYS[9]) == ARGV[9] then redis.call('DEL', KEYS[9]) end
redis.call('SADD', KEYS[10], ARGV[11])
redis.call('EXPIRE', KEYS[10], ARGV[10])
local woken, taken = '', ''
if ordered then
  local t = chat_turn(KEYS, 'advance', n, x, ttl, now, bound, chat, '', ARGV[12])
  woken, taken = t[4], t[6]
end
if entry ~= '' then
  redis.call('ZREM', KEYS[6], entry)
  redis.call('HDEL', KEYS[7], entry)
  redis.call('HDEL', KEYS[11], entry)
end
return {woken, taken}
"""
)


def settle_window(http_timeout: float) -> float:
    """How long after a POST with no answer the poster waits for it to show in the chat.

    The platform may complete a request after the client gave up on it; twice
    the client's timeout gives it as long again as we waited.
    """
    return SETTLE_FACTOR * http_timeout


@dataclass(frozen=True)
class Outgoing:
    """A reply on its way out: what the bot said, as which bot, and where it stands in its chat."""

    reply: Reply
    seq: int | None = None  # the event's place in its chat; None = no ordering
    created: float = field(default_factory=time.time)
    #: The installed bot that posts it; None: the configured bot.
    bot_id: str | None = None

    @property
    def key(self) -> str:
        return self.reply.key

    @property
    def group_id(self) -> str:
        return self.reply.group_id

    @property
    def entry_id(self) -> str:
        """The reply's id in the ledger of work in flight."""
        return reply_entry(self.reply.key, self.bot_id)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for the ``replies`` queue (``post_reply``'s argument, see
        :data:`glipbot.contracts.queues.POST_REPLY`)."""
        data = {**self.reply.to_json(), "seq": self.seq, "created": self.created}
        if self.bot_id is not None:
            data[REPLY_BOT_ID] = self.bot_id
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outgoing:
        """The inverse of :meth:`to_json`; a message without a bot is the configured bot's."""
        seq, bot_id = data.get("seq"), data.get(REPLY_BOT_ID)
        return cls(
            Reply.from_json(data),
            int(seq) if seq is not None else None,
            float(data.get("created") or time.time()),
            str(bot_id) if bot_id else None,
        )


class ReplyPoster:
    """Posts replies once and in order; every worker process builds one.

    ``posts`` and ``bot_id`` are the configured bot's client and own id;
    ``installed(bot_id)`` gives an installed bot's client (and raises
    :class:`~worker.errors.UnknownInstallationError` for a bot that is none).
    """

    def __init__(
        self,
        posts: PostsApi,
        client: redis.Redis,
        keys: Keys,
        bot_id: Callable[[], str],
        *,
        installed: Callable[[str], PostsApi] | None = None,
        settle: float = DEFAULT_SETTLE,
        lock_ttl: float = LOCK_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = client
        self._keys = keys
        self._settle = settle
        self._lock_ttl = lock_ttl
        self._keeper = LockKeeper()
        self._clock = clock
        self._installed = installed
        self.turns = ChatTurns(client, keys, clock=clock)
        self.ledger = Ledger(client, keys, clock=clock)
        self._begin = client.register_script(_BEGIN)
        self._finish = client.register_script(_FINISH)
        self.posts = Posts(posts, client, keys, bot_id)
        self.duplicates = DuplicateWatch(
            self.posts_of,
            client,
            keys,
            Counters(client, keys.counters, bot_key=keys.bot_counters),
            clock=clock,
        )

    def posts_of(self, bot_id: str | None) -> Posts:
        """The posts of installed bot ``bot_id`` (None: the configured bot), with its client."""
        if bot_id is None:
            return self.posts
        if self._installed is None:
            raise UnknownInstallationError(bot_id, UNKNOWN)
        return Posts(self._installed(bot_id), self._redis, self._keys, lambda: bot_id, scope=bot_id)

    def enqueue(self, out: Outgoing, message: Built, *, push: bool = True) -> bool:
        """Record ``out`` in the ledger and push its task ``message``, in one step
        (``push=False``: record it only, for :meth:`send`).

        False when the reply is in flight already (nothing is pushed twice).
        """
        turn = (out.seq, out.reply.index) if out.seq is not None else None
        return self.ledger.register(
            out.entry_id,
            message.queue_key,
            message.payload,
            group_id=out.group_id,
            turn=turn,
            bot=out.bot_id,
            push=push,
        )

    def send(self, outs: list[Outgoing], without_waiting: NoWait) -> list[tuple[Outgoing, str]]:
        """Post recorded replies here and now while they can go at once; push the rest.

        In order: a reply whose turn has come and whose bot has a free
        rate-limit slot is posted (exactly once, as :meth:`deliver` does); one
        that must wait for its turn parks (the chat sends it when its turn
        comes). A reply whose turn each post passes on is handed over and
        posted here too (the chat's next reply, parked by another worker),
        so a busy chat drains in one worker instead of one task per reply
        (for :data:`HANDOVER_BUDGET` seconds at most). At the first that can
        do none of this (its turn is held elsewhere, no free slot, the
        platform failed, another worker holds it), that one and the rest go
        onto the ``replies`` queue, whose ``post_reply``
        waits, retries and reconciles. A reply posted before (the same event
        handled again) is only passed on. Returns the replies posted now,
        with their post ids.
        """
        posted: list[tuple[Outgoing, str]] = []
        todo = list(outs)
        takes_until = time.monotonic() + HANDOVER_BUDGET
        while todo:
            out = todo.pop(0)
            # Past the budget, a reply whose turn comes is pushed onto the queue as before.
            handover = todo if time.monotonic() < takes_until else None
            try:
                with without_waiting():
                    post_id, new = self._post(out.reply, out.bot_id, out, handover)
            except Exception as exc:  # post_reply takes it from here, and judges the error
                _log.info(
                    ev.REPLY_DEFERRED,
                    reply_key=out.key,
                    group_id=out.group_id,
                    bot_id=out.bot_id,
                    reason=type(exc).__name__,
                )
                for rest in [out, *todo]:
                    self.ledger.push(rest.entry_id)
                break
            if post_id is not None and new:
                posted.append((out, post_id))
        return posted

    def deliver(self, out: Outgoing, *, handover: list[Outgoing] | None = None) -> str | None:
        """Post ``out`` if it is its turn and return the post id; None when it parked.

        A parked reply is sent again by whoever passes the turn to it. A reply
        that is not in the ledger cannot park: it raises
        :class:`~glipbot.errors.RetryLater` to ask again soon. ``handover``:
        the parked reply whose turn this post makes come is appended to it,
        for the caller to post (or :meth:`~glipbot.contracts.ledger.Ledger.push`),
        instead of being pushed onto the queue.
        """
        return self._post(out.reply, out.bot_id, out, handover)[0]

    def done(self, out: Outgoing, *, handover: list[Outgoing] | None = None) -> None:
        """``out`` is posted or given up on: pass the chat's turn on, then forget it.

        In this order: a worker that dies between the two leaves the reply in
        the ledger, and its next run finds it posted and passes on.
        ``handover`` as in :meth:`deliver`.
        """
        if out.seq is not None:
            state = self.turns.advance(
                out.group_id, out.seq, out.reply.index, bot=out.bot_id, take=handover is not None
            )
            self._hand_over(state.woken, state.taken, handover)
        self.ledger.done(out.entry_id)

    def post_once(self, reply: Reply, *, bot_id: str | None = None) -> str:
        """Post ``reply`` as installed bot ``bot_id`` (None: the configured bot) unless it was
        posted before; return the post's id. Its turn and the ledger are left alone."""
        post_id, _ = self._post(reply, bot_id, None, None)
        assert post_id is not None  # only an ordered reply parks
        return post_id

    def _post(
        self,
        reply: Reply,
        bot_id: str | None,
        out: Outgoing | None,
        handover: list[Outgoing] | None,
    ) -> tuple[str | None, bool]:
        """Post ``reply`` once; with ``out``, in its turn, and then pass the turn on and
        forget it (one script each side of the POST: :data:`_BEGIN`, :data:`_FINISH`).

        Returns the post id (None: parked) and whether this call posted it.
        """
        record = self._keys.reply(reply.key, bot_id)
        posts = self.posts_of(bot_id)  # a removed bot fails here, before anything is marked
        token = uuid.uuid4().hex
        ordered = out is not None and out.seq is not None
        keys, turn = self._turn_call(out, reply, bot_id, ordered)
        outcome, detail = self._begin(
            keys=[*keys, record, f"{record}:lock"],
            args=[*turn, token, int(self._lock_ttl * 1000), REPLY_TTL],
        )
        outcome = _text(outcome)
        if outcome == "posted":  # by an earlier run: only pass the turn on
            if out is not None:
                self.done(out, handover=handover)
            return _text(detail), False
        if outcome == "parked":
            _log.debug(
                ev.REPLY_PARKED,
                reply_key=reply.key,
                group_id=reply.group_id,
                bot_id=bot_id,
                waits_for=_text(detail),
            )
            return None, False
        if outcome == "wait":
            raise RetryLater(
                f"reply {reply.key} waits for {_text(detail)} in chat {reply.group_id}",
                retry_after=TURN_RETRY,
            )
        if outcome == "busy":
            raise RetryLater(
                f"reply {reply.key} is being posted by another worker", retry_after=BUSY_RETRY
            )
        state = _pairs(detail)
        # thread_local=False: the keeper's thread extends the lock it did not take.
        lock = self._redis.lock(f"{record}:lock", timeout=self._lock_ttl, thread_local=False)
        lock.local.token = token.encode()
        try:
            with self._keeper.kept(lock, self._lock_ttl):
                post_id, lost, since = self._post_locked(reply, record, posts, state)
        except BaseException:
            with contextlib.suppress(LockError, redis.RedisError):  # it lapses by itself
                lock.release()
            raise
        keys, turn = self._turn_call(out, reply, bot_id, ordered)  # the clock after the POST
        woken, taken = self._finish(
            keys=[
                *keys,
                record,
                f"{record}:lock",
                self._keys.reply_claims(reply.group_id, bot_id),
                self._keys.ledger_reaps,
            ],
            args=[*turn, token, REPLY_TTL, post_id, "1" if handover is not None else "0"],
        )
        if lost and since is not None:
            self.duplicates.add(reply, post_id, since, lost, scope=posts.scope)
        self._hand_over(_text(woken) or None, _text(taken) or None, handover)
        return post_id, True

    def _turn_call(
        self, out: Outgoing | None, reply: Reply, bot_id: str | None, ordered: bool
    ) -> tuple[list[str], list[Any]]:
        """``chat_turn``'s keys, and the arguments both scripts start with: "1" when the
        reply is ordered, then ``chat_turn``'s from ``n`` to ``extra`` (now: the clock)."""
        chat = Chat(reply.group_id, bot_id)
        seq = out.seq if out is not None and out.seq is not None else 0
        entry = out.entry_id if out is not None else ""
        args = self.turns.args_of("", chat, seq, reply.index, entry)
        return self.turns.keys_of(chat), ["1" if ordered else "0", *args[1:8]]

    def _hand_over(
        self, woken: str | None, taken: str | None, handover: list[Outgoing] | None
    ) -> None:
        """Give the caller the reply a turn just handed over (its ledger entry ``taken``).

        A reply that cannot be read back from its message is pushed as it is:
        ``post_reply`` keeps it as a dead letter if it is malformed.
        """
        if woken is None or taken is None or handover is None:
            return
        try:
            args, _ = task_arguments(Entry.from_json(woken, taken).message)
            handover.append(Outgoing.from_json(args[0]))
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            self.ledger.push(woken)

    def _post_locked(
        self, reply: Reply, record: str, posts: Posts, state: dict[str, str]
    ) -> tuple[str, int, float | None]:
        """POST the reply, or find the one an unanswered POST made; :data:`_BEGIN` marked it
        *pending* unless an earlier POST's mark is still there. Returns the post id,
        how many POSTs were taken not to have happened, and since when."""
        # ``unsure``: when the first POST with no answer began; ``lost``: how many
        # such POSTs were taken not to have happened (each may still land late).
        lost = int(state.get("lost") or 0)
        unsure = float(state["unsure"]) if state.get("unsure") else None
        if state.get("pending"):
            pending = float(state["pending"])
            unsure = pending if unsure is None else unsure
            found = posts.find(reply, since=unsure)
            if found:
                _log.warning(
                    ev.REPLY_RECONCILED, reply_key=reply.key, post_id=found, bot_id=posts.scope
                )
                return found, lost, unsure
            settles_at = pending + self._settle
            now = self._clock()
            if now < settles_at:
                _log.info(
                    ev.REPLY_SETTLING,
                    reply_key=reply.key,
                    group_id=reply.group_id,
                    wait=round(settles_at - now, 3),
                )
                raise RetryLater(
                    f"reply {reply.key}: its last POST may still land", retry_after=settles_at - now
                )
            lost += 1  # it did not land within the window: post again, and watch for it
            pipe = self._redis.pipeline()
            pipe.hset(record, mapping={"unsure": repr(unsure), "lost": lost})
            pipe.hset(record, "pending", repr(self._clock()))
            pipe.expire(record, REPLY_TTL)
            pipe.execute()
        try:
            post = posts.api.create_post(
                reply.group_id, reply.text, [dict(a) for a in reply.attachments] or None
            )
        except (RateLimitedError, PermanentError):
            # The platform refused it: nothing was created, a retry may post.
            self._redis.hdel(record, "pending")
            raise
        # A 5xx or a lost connection leaves "pending": the next try reconciles.
        return str(post["id"]), lost, unsure


def _pairs(flat: list[Any]) -> dict[str, str]:
    """A hash as ``HGETALL`` gives it inside a script (a flat list), as a dict."""
    items = [_text(v) for v in flat]
    return dict(zip(items[::2], items[1::2], strict=True))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
