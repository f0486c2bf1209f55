"""Replies leave a chat in the order of the messages that caused them.

Both halves of the protocol live here. The listener enqueues each event with
:data:`ENQUEUE_SCRIPT` (arguments from :func:`enqueue_call`), which gives
every new event of a chat the chat's next sequence number ``n``, stores it
with the event's de-duplication key as ``"<task id>|<n>"``
(:meth:`ChatTurns.seq_of` reads it back) and records the event in the
ledger of work in flight (:mod:`glipbot.contracts.ledger`) and in the chat's
*in-flight* hash, all in one step.

``handle_event`` reports how many replies event ``n`` produced
(:meth:`ChatTurns.handled`, zero included). Each reply ``(n, i)`` posts only
when it is the chat's turn; a reply whose turn has not come *parks* in the
chat (:meth:`ChatTurns.park`, atomic with the check, so it never parks when
its turn has just come) and its task ends: nothing spins. Whatever moves the
turn (a reply done or dead-lettered, :meth:`ChatTurns.advance`; an event
handled) sends the parked reply that is now due, again in the same step, and
gives it a deadline in the ledger. Events that produced nothing are skipped
over.

A turn whose owner is gone (an event or reply in no queue, no worker and not
in the ledger, e.g. lost before the ledger existed) is released by
:meth:`ChatTurns.release`, run by the reaper: once the turn has not moved for
:data:`RELEASE_GRACE`, the missing owners are skipped *in order* and each is
returned for the caller to log, count and keep as a dead letter. A waiting
reply never jumps the turn to itself, so waiting replies cannot leapfrog each
other.

**Per installation.** Each bot installation has its own order in a chat
(:class:`Chat` names one: the chat and the installed bot, None for the
configured bot): two bots in one chat never wait for each other. The
listener numbers an installed bot's event in that bot's chat because its
event id carries the bot (:func:`glipbot.contracts.identity.installation_of`);
the workers pass the same bot to every :class:`ChatTurns` call of its event
and its replies.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any, NamedTuple

import redis

from glipbot.contracts.identity import installation_of
from glipbot.contracts.ledger import PROGRESS_BOUND, REGISTER_LUA, event_entry
from glipbot.state.keys import Keys

#: Turn state lives as long as the chat is active; an idle chat starts over at
#: sequence 1, as does the listener's per-chat counter, which has the same TTL.
TURN_TTL = 7 * 24 * 3600
#: How long a chat's turn must have stood still, with replies waiting, before
#: owners that are nowhere to be found are skipped (:meth:`ChatTurns.release`).
RELEASE_GRACE = 60.0

# KEYS: lease, dedup key, queue list, chat sequence counter, ledger deadlines,
# ledger entries, chat in-flight hash.
# ARGV: lease value, dedup TTL (s), message, task id, "1" if the event is in a
# chat, the counter's TTL (s), ledger id, ledger deadline. Atomic: nothing is
# written unless the lease still holds this reign's value (fencing); the
# dedup key, the message and its ledger entry are written together, or none.
# Duplicates take no sequence number, so the chat's numbers have no holes for
# replies to wait on.
ENQUEUE_SCRIPT = (
    REGISTER_LUA
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local seq = ''
if ARGV[5] == '1' then
  seq = redis.call('INCR', KEYS[4])
  redis.call('EXPIRE', KEYS[4], ARGV[6])
  redis.call('HSET', KEYS[7], seq, ARGV[7])
  redis.call('EXPIRE', KEYS[7], ARGV[6])
end
redis.call('SET', KEYS[2], ARGV[4] .. '|' .. seq, 'EX', ARGV[2])
redis.call('LPUSH', KEYS[3], ARGV[3])
ledger_register(KEYS[5], KEYS[6], KEYS[3], ARGV[7], ARGV[8], ARGV[3])
return 1
"""
)


class Enqueued(IntEnum):
    """What :data:`ENQUEUE_SCRIPT` did with one event."""

    ENQUEUED = 1
    DUPLICATE = 0  # the same event (post id, else uuid) was enqueued before
    FENCED = -1  # the caller no longer holds the lease: nothing written


def enqueue_call(
    keys: Keys,
    *,
    lease_value: str,
    event_id: str,
    chat: str,
    queue_key: str,
    message: str,
    task_id: str,
    dedup_ttl: int,
    now: float | None = None,
    lease_key: str | None = None,
) -> dict[str, list[Any]]:
    """The ``keys`` and ``args`` of :data:`ENQUEUE_SCRIPT` for one event (``chat`` may be "").

    ``lease_key``: the lease that ``lease_value`` must still hold (default the
    configured bot's listener lease; an installed bot's shard lease otherwise).

    ``event_id`` is the event's identity (:func:`glipbot.contracts.identity.event_id`):
    its de-duplication key, and its entry in the ledger. An installed bot's
    event (its id carries the bot) is numbered in that bot's order of the chat.
    """
    deadline = (time.time() if now is None else now) + PROGRESS_BOUND
    bot = installation_of(event_id)
    return {
        "keys": [
            lease_key or keys.listener_lease,
            keys.dedup(event_id),
            queue_key,
            keys.chat_seq(chat, bot),
            keys.ledger_deadlines,
            keys.ledger_entries,
            keys.chat_inflight(chat, bot),
        ],
        "args": [
            lease_value,
            dedup_ttl,
            message,
            task_id,
            "1" if chat else "0",
            TURN_TTL,
            event_entry(event_id),
            repr(deadline),
        ],
    }


def seq_from_dedup(raw: str | bytes | None) -> int | None:
    """The chat sequence number stored in a de-duplication key's value, if any."""
    text = raw.decode() if isinstance(raw, bytes) else raw or ""
    _, _, seq = text.partition("|")
    return int(seq) if seq.isdigit() else None


#: The chat's turn as a Lua function, for :class:`ChatTurns` and for the scripts
#: that fold a turn into a larger step (:mod:`worker.replies`).
#: ``chat_turn(K, op, n, x, ttl, now, bound, chat, extra, take)``.
#: K: 1 turn hash {n, i, t (when it last moved)}, 2 counts hash {n: replies},
#: 3 in-flight hash, 4 parked hash, 5 waiting chats set, 6 ledger deadlines,
#: 7 ledger entries.
#: op: "check", "park" (check, and park when it must wait), "handled" (event n
#: produced ``x`` replies), "advance" (reply (n, x) is done), "release" (skip
#: owners of the turn that are gone). ``extra``: the caller's ledger id
#: ("park") or the grace in seconds ("release"). Every op then sends the parked
#: reply whose turn it now is, or, with ``take`` = "1", hands it to the caller
#: (its deadline set, its entry returned) instead of pushing it.
#: Returns {state, turn n, turn i, woken id, released, woken entry (taken only)};
#: state: 0 = your turn, 1 = wait, 2 = past, 3 = parked.
TURNS_LUA = """
local function chat_turn(K, op, n, x, ttl, now, bound, chat, extra, take)
local tn = tonumber(redis.call('HGET', K[1], 'n') or '0')
local ti = tonumber(redis.call('HGET', K[1], 'i') or '0')
local since = tonumber(redis.call('HGET', K[1], 't') or now)
if tn == 0 then tn = 1 end
local function normalise()
  while true do
    local count = redis.call('HGET', K[2], tn)
    if not count or ti < tonumber(count) then break end
    redis.call('HDEL', K[2], tn)
    tn = tn + 1
    ti = 0
  end
end
local function alive(f)
  local id = redis.call('HGET', K[3], f)
  if not id then return false end
  return redis.call('HEXISTS', K[7], id) == 1 or redis.call('HEXISTS', K[4], f) == 1
end
normalise()
local n0, i0 = tn, ti
local released = {}
if op == 'handled' then
  if n >= tn then redis.call('HSET', K[2], n, x) end
  redis.call('HDEL', K[3], n)
elseif op == 'advance' then
  if n == tn and x == ti then ti = ti + 1 end
  redis.call('HDEL', K[3], n .. ':' .. x)
  redis.call('HDEL', K[4], n .. ':' .. x)
elseif op == 'release' and now - since >= tonumber(extra) then
  while #released < 100 and (redis.call('HLEN', K[4]) > 0
      or redis.call('SISMEMBER', K[5], chat) == 1) do
    local reply, event = tn .. ':' .. ti, tostring(tn)
    if alive(reply) or alive(event) then break end
    if redis.call('HEXISTS', K[2], tn) == 1 then
      table.insert(released, reply .. '|' .. (redis.call('HGET', K[3], reply) or ''))
      redis.call('HDEL', K[3], reply)
      ti = ti + 1
    else
      table.insert(released, event .. '|' .. (redis.call('HGET', K[3], event) or ''))
      redis.call('HDEL', K[3], event)
      redis.call('HSET', K[2], tn, ti)
    end
    normalise()
  end
end
normalise()
if tn ~= n0 or ti ~= i0 then since = now end
redis.call('HSET', K[1], 'n', tn, 'i', ti, 't', since)
for k = 1, 4 do redis.call('EXPIRE', K[k], ttl) end
local state = 1
if n == tn and x == ti then state = 0 elseif n < tn or (n == tn and x < ti) then state = 2 end
local woken, taken = '', ''
local due = redis.call('HGET', K[4], tn .. ':' .. ti)
if due then
  redis.call('HDEL', K[4], tn .. ':' .. ti)
  local raw = redis.call('HGET', K[7], due)
  if raw and not (op == 'park' and state == 0) then
    if take ~= '1' then
      local entry = cjson.decode(raw)
      redis.call('LPUSH', entry.queue, entry.message)
    else
      taken = raw
    end
    redis.call('ZADD', K[6], now + bound, due)
    woken = due
  end
end
if op == 'park' and state == 1 then
  if redis.call('HEXISTS', K[7], extra) == 1 then
    redis.call('HSET', K[4], n .. ':' .. x, extra)
    redis.call('EXPIRE', K[4], ttl)
    redis.call('ZREM', K[6], extra)
    state = 3
  end
  redis.call('SADD', K[5], chat)
else
  if op == 'park' and redis.call('HEXISTS', K[7], extra) == 1 then
    redis.call('ZADD', K[6], 'NX', now + bound, extra)
  end
  if redis.call('HLEN', K[4]) == 0 then redis.call('SREM', K[5], chat) end
end
return {state, tn, ti, woken, released, taken}
end
"""

# KEYS: the 7 of chat_turn. ARGV: op, n, x | count, ttl, now, ledger bound, chat
# member, extra, take.
_TURNS = (
    TURNS_LUA
    + """
return chat_turn(KEYS, ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]),
  tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], ARGV[8], ARGV[9])
"""
)


class Turn(Enum):
    """Where a reply stands in its chat's order."""

    MINE = 0
    WAIT = 1  # not its turn, and it could not park (it is not in the ledger)
    PAST = 2  # its turn went by (the reply was already posted, or released)
    PARKED = 3  # not its turn: parked, it is sent again when its turn comes


class Chat(NamedTuple):
    """One order of replies: chat ``group_id`` as installation ``bot`` sees it (None: the
    configured bot)."""

    group_id: str
    bot: str | None = None

    def member(self) -> str:
        """How the set of waiting chats names it (the chat id alone for the configured bot)."""
        return self.group_id if self.bot is None else f"bot:{self.bot}:{self.group_id}"

    @classmethod
    def from_member(cls, member: str) -> Chat:
        """The inverse of :meth:`member`."""
        if member.startswith("bot:"):
            bot, separator, group_id = member[len("bot:") :].partition(":")
            if separator and bot:
                return cls(group_id, bot)
        return cls(member)


@dataclass(frozen=True)
class Released:
    """An owner of a chat's turn that was nowhere to be found, skipped by :meth:`ChatTurns.release`.

    ``index`` is None for an event that was never handled; ``entry_id`` is its
    ledger id when the chat had one for it (its ledger entry was gone); ``bot``
    the installed bot whose order it was (None: the configured bot's).
    """

    group_id: str
    seq: int
    index: int | None
    entry_id: str | None
    bot: str | None = None


@dataclass(frozen=True)
class TurnState:
    """The chat's turn after an operation, and what the operation sent or skipped."""

    turn: Turn
    current: tuple[int, int]
    #: The ledger id of the parked reply this operation sent, now that its turn came.
    woken: str | None = None
    released: list[Released] = field(default_factory=list)
    #: With ``take``: the woken reply's ledger entry (JSON), handed to the caller
    #: to post or push, instead of pushed.
    taken: str | None = None


class ChatTurns:
    """The per-chat turn of replies, shared by every worker through Redis."""

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
        self._bound = bound
        self._script = client.register_script(_TURNS)

    def seq_of(self, event_id: str) -> int | None:
        """The chat sequence number the listener gave the event ``event_id`` (see
        :mod:`glipbot.contracts.identity`), stored with its de-duplication key."""
        return seq_from_dedup(self._redis.get(self._keys.dedup(event_id)))

    # Every operation takes ``bot``: the installed bot whose order of the chat it is
    # (None: the configured bot's), as the event's id says (see the module docstring).

    def handled(
        self, group_id: str, seq: int, replies: int, *, bot: str | None = None
    ) -> TurnState:
        """Event ``seq`` of the chat was handled and produced ``replies`` replies."""
        return self._run("handled", Chat(group_id, bot), seq, replies)

    def check(self, group_id: str, seq: int, index: int, *, bot: str | None = None) -> TurnState:
        """Is it the turn of reply ``index`` of event ``seq``?"""
        return self._run("check", Chat(group_id, bot), seq, index)

    def park(
        self, group_id: str, seq: int, index: int, entry_id: str, *, bot: str | None = None
    ) -> TurnState:
        """Reply ``(seq, index)`` (ledger id ``entry_id``) wants to post: its turn, or park it.

        :attr:`Turn.PARKED`: the chat keeps it and sends its ledger message again
        when its turn comes; the caller stops. :attr:`Turn.WAIT` only for a reply
        that is not in the ledger (so cannot be sent again): the caller must
        try again later.
        """
        return self._run("park", Chat(group_id, bot), seq, index, entry_id)

    def advance(
        self, group_id: str, seq: int, index: int, *, bot: str | None = None, take: bool = False
    ) -> TurnState:
        """Reply ``(seq, index)`` is done (posted or dead-lettered): pass the turn on.

        ``take``: the parked reply whose turn it now is comes back in
        :attr:`TurnState.taken` for the caller to post (or push), not pushed.
        """
        return self._run("advance", Chat(group_id, bot), seq, index, take=take)

    def release(
        self, group_id: str, grace: float = RELEASE_GRACE, *, bot: str | None = None
    ) -> TurnState:
        """Skip, in order, the owners of the turn that are gone, if replies wait behind them.

        Only once the turn has stood still for ``grace`` seconds; an owner in
        the ledger, parked, or not known to the chat as in flight is waited for.
        """
        return self._run("release", Chat(group_id, bot), 0, 0, repr(grace))

    def waiting_chats(self) -> list[Chat]:
        """Chats (of every installation) where a reply waits for its turn."""
        members = self._redis.smembers(self._keys.chats_waiting)
        return sorted((Chat.from_member(_text(m)) for m in members), key=Chat.member)

    def _run(
        self, op: str, chat: Chat, seq: int, value: int, extra: str = "", *, take: bool = False
    ) -> TurnState:
        result = self._script(
            keys=self.keys_of(chat), args=self.args_of(op, chat, seq, value, extra, take=take)
        )
        return turn_state(chat, result)

    # -- for scripts that fold a turn into a larger step (TURNS_LUA's chat_turn) --

    def keys_of(self, chat: Chat) -> list[str]:
        """The seven keys ``chat_turn`` takes, for ``chat``."""
        k = self._keys
        group_id, bot = chat
        return [
            k.chat_turn(group_id, bot),
            k.chat_reply_counts(group_id, bot),
            k.chat_inflight(group_id, bot),
            k.chat_parked(group_id, bot),
            k.chats_waiting,
            k.ledger_deadlines,
            k.ledger_entries,
        ]

    def args_of(
        self, op: str, chat: Chat, seq: int, value: int, extra: str = "", *, take: bool = False
    ) -> list[Any]:
        """The nine arguments ``chat_turn`` takes after its keys, in order."""
        now = repr(self._clock())
        member = chat.member()
        return [op, seq, value, TURN_TTL, now, self._bound, member, extra, "1" if take else "0"]


def turn_state(chat: Chat, result: list[Any]) -> TurnState:
    """What ``chat_turn`` returned, read."""
    state, n, i, woken, released, taken = result
    return TurnState(
        Turn(int(state)),
        (int(n), int(i)),
        _text(woken) or None,
        [_released(chat, _text(item)) for item in released],
        _text(taken) or None,
    )


def _released(chat: Chat, item: str) -> Released:
    where, _, entry_id = item.partition("|")
    seq, _, index = where.partition(":")
    return Released(
        chat.group_id, int(seq), int(index) if index else None, entry_id or None, chat.bot
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
