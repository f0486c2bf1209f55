"""Replies leave a chat in the order of the messages that caused them.

Both halves of the protocol live here. The listener enqueues each event with
:data:`ENQUEUE_SCRIPT` (arguments from :func:`enqueue_call`), which gives
every new event of a chat the chat's next sequence number ``n`` and stores it
with the event's de-duplication key as ``"<task id>|<n>"``
(:meth:`ChatTurns.seq_of` reads it back). ``handle_event``
reports how many replies event ``n`` produced (:meth:`ChatTurns.handled`,
zero included), and each reply ``(n, i)`` posts
only when it is the chat's turn (:meth:`ChatTurns.check`), then passes the
turn on (:meth:`ChatTurns.advance`). Events that produced nothing are
skipped over. A turn that never comes (an event lost before it was handled)
is given up after a timeout by :meth:`ChatTurns.force`, which the caller
logs and counts: order is then best effort, and nothing is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any

import redis

from glipbot.state.keys import Keys

#: Turn state lives as long as the chat is active; an idle chat starts over at
#: sequence 1, as does the listener's per-chat counter, which has the same TTL.
TURN_TTL = 7 * 24 * 3600

# KEYS: lease, dedup key, queue list, chat sequence counter.
# ARGV: lease value, dedup TTL (s), message, task id, "1" if the event is in a
# chat, the counter's TTL (s). Atomic: nothing is written unless the lease
# still holds this reign's value (fencing); the dedup key is set and the
# message pushed together, or neither. Duplicates take no sequence number, so
# the chat's numbers have no holes for replies to wait on.
ENQUEUE_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local seq = ''
if ARGV[5] == '1' then
  seq = redis.call('INCR', KEYS[4])
  redis.call('EXPIRE', KEYS[4], ARGV[6])
end
redis.call('SET', KEYS[2], ARGV[4] .. '|' .. seq, 'EX', ARGV[2])
redis.call('LPUSH', KEYS[3], ARGV[3])
return 1
"""


class Enqueued(IntEnum):
    """What :data:`ENQUEUE_SCRIPT` did with one event."""

    ENQUEUED = 1
    DUPLICATE = 0  # its uuid was enqueued before
    FENCED = -1  # the caller no longer holds the lease: nothing written


def enqueue_call(
    keys: Keys,
    *,
    lease_value: str,
    event_uuid: str,
    chat: str,
    queue_key: str,
    message: str,
    task_id: str,
    dedup_ttl: int,
) -> dict[str, list[Any]]:
    """The ``keys`` and ``args`` of :data:`ENQUEUE_SCRIPT` for one event (``chat`` may be "")."""
    return {
        "keys": [keys.listener_lease, keys.dedup(event_uuid), queue_key, keys.chat_seq(chat)],
        "args": [lease_value, dedup_ttl, message, task_id, "1" if chat else "0", TURN_TTL],
    }


def seq_from_dedup(raw: str | bytes | None) -> int | None:
    """The chat sequence number stored in a de-duplication key's value, if any."""
    text = raw.decode() if isinstance(raw, bytes) else raw or ""
    _, _, seq = text.partition("|")
    return int(seq) if seq.isdigit() else None


# KEYS: turn hash {n, i}, counts hash {n: replies}. ARGV: op, n, i|count, ttl.
# Ops: "check" (normalise, compare), "handled" (record count), "advance"
# (pass the turn after (n, i)), "force" (jump the turn to (n, i)).
# Returns {state, turn_n, turn_i}; state: 0 = your turn, 1 = wait, 2 = past.
_TURNS = """
local op, n, x, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local tn = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
local ti = tonumber(redis.call('HGET', KEYS[1], 'i') or '0')
if tn == 0 then tn = 1 end
if op == 'handled' then
  if n >= tn then redis.call('HSET', KEYS[2], n, x) end
elseif op == 'advance' then
  if n == tn and x == ti then ti = ti + 1 end
elseif op == 'force' then
  if n > tn or (n == tn and x > ti) then tn = n; ti = x end
end
while true do
  local count = redis.call('HGET', KEYS[2], tn)
  if not count or ti < tonumber(count) then break end
  redis.call('HDEL', KEYS[2], tn)
  tn = tn + 1
  ti = 0
end
redis.call('HSET', KEYS[1], 'n', tn, 'i', ti)
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
if op ~= 'check' then return {0, tn, ti} end
if n == tn and x == ti then return {0, tn, ti} end
if n < tn or (n == tn and x < ti) then return {2, tn, ti} end
return {1, tn, ti}
"""


class Turn(Enum):
    """Where a reply stands in its chat's order."""

    MINE = 0
    WAIT = 1
    PAST = 2  # its turn went by (the reply was already posted, or was forced past)


@dataclass(frozen=True)
class TurnState:
    turn: Turn
    current: tuple[int, int]


class ChatTurns:
    """The per-chat turn of replies, shared by every worker through Redis."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._redis = client
        self._keys = keys
        self._script = client.register_script(_TURNS)

    def seq_of(self, event_uuid: str) -> int | None:
        """The chat sequence number the listener gave the event (stored with its dedup key)."""
        return seq_from_dedup(self._redis.get(self._keys.dedup(event_uuid)))

    def handled(self, group_id: str, seq: int, replies: int) -> None:
        """Event ``seq`` of the chat was handled and produced ``replies`` replies."""
        self._run("handled", group_id, seq, replies)

    def check(self, group_id: str, seq: int, index: int) -> TurnState:
        """Is it the turn of reply ``index`` of event ``seq``?"""
        return self._run("check", group_id, seq, index)

    def advance(self, group_id: str, seq: int, index: int) -> None:
        """Reply ``(seq, index)`` is done (posted or dead-lettered): pass the turn on."""
        self._run("advance", group_id, seq, index)

    def force(self, group_id: str, seq: int, index: int) -> TurnState:
        """Give up waiting: move the turn to ``(seq, index)``, skipping what is missing."""
        return self._run("force", group_id, seq, index)

    def _run(self, op: str, group_id: str, seq: int, value: int) -> TurnState:
        state, n, i = self._script(
            keys=[self._keys.chat_turn(group_id), self._keys.chat_reply_counts(group_id)],
            args=[op, seq, value, TURN_TTL],
        )
        return TurnState(Turn(int(state)), (int(n), int(i)))
