"""Work in flight: every event and reply, from the moment it is enqueued until it is done.

Celery's Redis transport hands a message over in two steps (``BRPOP``, then
a record in ``unacked``), so a worker killed between the two loses the
message for good, and what a dead worker held stays in ``unacked`` for the
whole visibility timeout. The ledger is the platform's own record, end to
end, that does not trust that hand-over:

* one entry per piece of work, ``event:<event id>`` or ``reply:<reply key>``
  (:func:`event_entry`, :func:`reply_entry`; an installed bot's carry its
  bot id, see :mod:`glipbot.contracts.identity`), holding the exact Celery
  message and its queue so that it can be sent again, and a *deadline* by
  which the work must show progress;
* the entry is written by the same Redis script that pushes the message (the
  listener's :data:`~glipbot.contracts.chat_order.ENQUEUE_SCRIPT`, the
  workers' :meth:`Ledger.register`), so no message is on a queue without it;
* the task moves the deadline forward when it starts or retries
  (:meth:`Ledger.touch`) and removes the entry once the work is done,
  handled or dead-lettered (:meth:`Ledger.done`);
* a reaper re-sends what is past its deadline and no longer on its queue
  (:meth:`Ledger.resend`), and gives up after :data:`MAX_REAPS` re-sends.

A reply parked until its chat's turn keeps its entry but has no deadline:
the chat holds it (:mod:`glipbot.contracts.chat_order`) and sends the same
message again when its turn comes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import redis

from glipbot.state.keys import Keys

#: Seconds a piece of work may go without progress (being started, retried or
#: finished) before the reaper sends it again. A handler slower than this runs
#: twice, which is harmless: handling is idempotent.
PROGRESS_BOUND = 60.0
#: Re-sends after which the reaper gives the work up as a dead letter: it was
#: lost this many times in a row (a message that kills its worker, say).
MAX_REAPS = 5
#: How many of a queue's oldest messages the reaper compares with an overdue
#: entry to tell "still waiting on the queue" from "lost". An overdue entry of
#: a longer queue is left to wait until the backlog has shrunk.
SCAN_LIMIT = 10_000

EVENT = "event"
REPLY = "reply"

#: Lua shared by every script that writes an entry: the one format
#: :meth:`Entry.from_json` reads. KEYS are passed in, never built in Lua.
REGISTER_LUA = """
local function ledger_register(deadlines, entries, queue, id, deadline, message)
  redis.call('HSET', entries, id, cjson.encode({queue = queue, message = message}))
  redis.call('ZADD', deadlines, deadline, id)
end
"""

# KEYS: deadlines, entries, queue list, chat in-flight hash.
# ARGV: id, deadline, message, turn field ("" = not ordered), in-flight TTL,
# "1" to push the message ("0": recorded only, see Ledger.push).
# Work already in flight keeps its entry and is not pushed twice.
_REGISTER = (
    REGISTER_LUA
    + """
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
ledger_register(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3])
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[4], ARGV[4], ARGV[1])
  redis.call('EXPIRE', KEYS[4], ARGV[5])
end
if ARGV[6] == '1' then redis.call('LPUSH', KEYS[3], ARGV[3]) end
return 1
"""
)

# KEYS: deadlines, entries. ARGV: id, deadline. Pushes a recorded entry's message.
_PUSH = """
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return 0 end
local entry = cjson.decode(raw)
redis.call('LPUSH', entry.queue, entry.message)
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
"""

# KEYS: deadlines, entries, reaps. ARGV: id, now, bound, max reaps, scan limit.
# Reads the entry's queue from the entry (a key not in KEYS: fine on one
# Redis, which is all the platform supports). Returns {outcome, reaps, entry}.
_RESEND = """
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due or tonumber(due) > tonumber(ARGV[2]) then return {'not_due', 0, ''} end
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
  return {'missing', 0, ''}
end
local entry = cjson.decode(raw)
local later = tonumber(ARGV[2]) + tonumber(ARGV[3])
local scan = tonumber(ARGV[5])
if redis.call('LPOS', entry.queue, entry.message, 'RANK', -1, 'MAXLEN', scan) then
  redis.call('ZADD', KEYS[1], later, ARGV[1])
  return {'queued', 0, ''}
end
if redis.call('LLEN', entry.queue) > scan then
  redis.call('ZADD', KEYS[1], later, ARGV[1])
  return {'backlog', 0, ''}
end
local reaps = redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
if reaps > tonumber(ARGV[4]) then return {'exhausted', reaps, raw} end
redis.call('LPUSH', entry.queue, entry.message)
redis.call('ZADD', KEYS[1], later, ARGV[1])
return {'resent', reaps, ''}
"""


def event_entry(event: str) -> str:
    """The ledger id of the ``handle_event`` of event ``event`` (its
    :func:`~glipbot.contracts.identity.event_id`)."""
    return f"{EVENT}:{event}"


def reply_entry(reply_key: str, bot: str | None = None) -> str:
    """The ledger id of the ``post_reply`` of reply ``reply_key``.

    ``bot``: the installed bot that posts it (None: the configured bot), as
    two bots' replies to one post may have the same key.
    """
    return f"{REPLY}:{reply_key}" if bot is None else f"{REPLY}:bot:{bot}:{reply_key}"


@dataclass(frozen=True)
class Entry:
    """One piece of work in flight: the Celery message that does it, and its queue."""

    id: str
    queue: str
    message: str

    @property
    def kind(self) -> str:
        """:data:`EVENT` or :data:`REPLY`."""
        return self.id.partition(":")[0]

    @classmethod
    def from_json(cls, entry_id: str, raw: str | bytes) -> Entry:
        """Parse what :data:`REGISTER_LUA` stored."""
        data = json.loads(raw)
        return cls(entry_id, str(data["queue"]), str(data["message"]))


class Outcome(Enum):
    """What :meth:`Ledger.resend` did with one entry."""

    RESENT = "resent"  # lost: its message was pushed again
    QUEUED = "queued"  # still waiting on its queue: given another bound
    BACKLOG = "backlog"  # its queue is too long to look through: given another bound
    EXHAUSTED = "exhausted"  # lost MAX_REAPS times: the caller gives it up
    NOT_DUE = "not_due"  # it made progress since it was listed
    MISSING = "missing"  # a deadline without an entry: dropped


@dataclass(frozen=True)
class Reaped:
    """The outcome of :meth:`Ledger.resend`, the re-sends so far and (when exhausted) the entry."""

    outcome: Outcome
    reaps: int
    entry: Entry | None = None


class Ledger:
    """The work in flight, shared by the listener, every worker and the reaper."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        *,
        clock: Callable[[], float] = time.time,
        bound: float = PROGRESS_BOUND,
    ) -> None:
        self._redis = client
        self._keys = keys
        self._clock = clock
        self.bound = bound
        self._register = client.register_script(_REGISTER)
        self._push = client.register_script(_PUSH)
        self._resend = client.register_script(_RESEND)

    def register(
        self,
        entry_id: str,
        queue_key: str,
        message: str,
        *,
        group_id: str | None = None,
        turn: tuple[int, int] | None = None,
        turn_ttl: int = 7 * 24 * 3600,
        bot: str | None = None,
        push: bool = True,
    ) -> bool:
        """Record ``message`` and push it onto ``queue_key``, in one step.

        ``turn`` ``(seq, index)`` names the reply's place in chat ``group_id``
        (of installation ``bot``; None: the configured bot), so the chat knows
        what it may still wait for. Returns False, and pushes nothing, when the
        work is in flight already. ``push=False`` records it only: the caller
        does the work itself, or :meth:`push` es it later; if the caller dies
        first, the reaper sends it once the deadline passed.
        """
        field = f"{turn[0]}:{turn[1]}" if turn is not None and group_id else ""
        inflight = self._keys.chat_inflight(group_id or "", bot)
        deadline = self._clock() + self.bound
        return bool(
            self._register(
                keys=[self._keys.ledger_deadlines, self._keys.ledger_entries, queue_key, inflight],
                args=[entry_id, repr(deadline), message, field, turn_ttl, "1" if push else "0"],
            )
        )

    def push(self, entry_id: str) -> bool:
        """Push a recorded entry's message onto its queue (with a new deadline), in one step;
        False when the work is no longer in flight."""
        deadline = self._clock() + self.bound
        keys = [self._keys.ledger_deadlines, self._keys.ledger_entries]
        return bool(self._push(keys=keys, args=[entry_id, repr(deadline)]))

    def touch(self, entry_id: str, extra: float = 0.0) -> None:
        """The work made progress: its deadline is now ``extra`` + the bound away.

        Does nothing for work that is not in the ledger, or that is parked.
        """
        deadline = self._clock() + extra + self.bound
        self._redis.zadd(self._keys.ledger_deadlines, {entry_id: deadline}, xx=True)

    def done(self, entry_id: str) -> None:
        """The work is finished (done, or kept as a dead letter): forget it."""
        pipe = self._redis.pipeline()
        pipe.zrem(self._keys.ledger_deadlines, entry_id)
        pipe.hdel(self._keys.ledger_entries, entry_id)
        pipe.hdel(self._keys.ledger_reaps, entry_id)
        pipe.execute()

    def overdue(self, limit: int = 100) -> list[str]:
        """Up to ``limit`` entries past their deadline, the longest overdue first."""
        ids = self._redis.zrangebyscore(
            self._keys.ledger_deadlines, "-inf", self._clock(), start=0, num=limit
        )
        return [_text(i) for i in ids]

    def resend(
        self, entry_id: str, *, max_reaps: int = MAX_REAPS, scan: int = SCAN_LIMIT
    ) -> Reaped:
        """Send an overdue entry's message again unless it is still on its queue.

        Atomic: the check, the push and the new deadline are one step, so two
        reapers (or a reaper and a late worker) never push it twice.
        """
        outcome, reaps, raw = self._resend(
            keys=[
                self._keys.ledger_deadlines,
                self._keys.ledger_entries,
                self._keys.ledger_reaps,
            ],
            args=[entry_id, repr(self._clock()), self.bound, max_reaps, scan],
        )
        entry = Entry.from_json(entry_id, raw) if raw else None
        return Reaped(Outcome(_text(outcome)), int(reaps), entry)

    def entry(self, entry_id: str) -> Entry | None:
        """The entry, or None when the work is not in flight."""
        raw = self._redis.hget(self._keys.ledger_entries, entry_id)
        return None if raw is None else Entry.from_json(entry_id, _text(raw))

    def deadline(self, entry_id: str) -> float | None:
        """When the work must next show progress; None when it has no deadline (or no entry)."""
        score = self._redis.zscore(self._keys.ledger_deadlines, entry_id)
        return None if score is None else float(score)

    def size(self) -> int:
        """How many pieces of work are in flight (parked replies included)."""
        return int(self._redis.hlen(self._keys.ledger_entries))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
