"""glipbot.contracts.chat_order: replies of one chat leave in the order of their messages.

Replies that wait park in the chat and are sent again when their turn comes;
owners of a turn that are gone are released in order, never leapfrogged.
"""

from __future__ import annotations

import json

import pytest
import redis

from glipbot.contracts.chat_order import (
    ENQUEUE_SCRIPT,
    RELEASE_GRACE,
    Chat,
    ChatTurns,
    Enqueued,
    Released,
    Turn,
    enqueue_call,
    seq_from_dedup,
)
from glipbot.contracts.identity import event_id
from glipbot.contracts.ledger import PROGRESS_BOUND, Ledger, event_entry, reply_entry
from glipbot.state.keys import Keys
from tests.support.clock import FakeClock

KEYS = Keys("test:")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def turns(redis_client: redis.Redis, clock: FakeClock) -> ChatTurns:
    return ChatTurns(redis_client, KEYS, clock=clock)


@pytest.fixture
def ledger(redis_client: redis.Redis, clock: FakeClock) -> Ledger:
    return Ledger(redis_client, KEYS, clock=clock)


def _reply(ledger: Ledger, seq: int, index: int, group: str = "g") -> str:
    """Reply ``(seq, index)`` of chat ``group`` enqueued (in the ledger); its ledger id."""
    entry = reply_entry(f"evt-{seq}:{index}")
    ledger.register(entry, "replies", f"msg {seq}:{index}", group_id=group, turn=(seq, index))
    return entry


def _taken(redis_client: redis.Redis) -> None:
    """Workers took every message off the replies queue."""
    redis_client.delete("replies")


def test_the_first_reply_of_the_first_event_goes_first(turns: ChatTurns) -> None:
    turns.handled("g", 1, 1)

    assert turns.check("g", 1, 0).turn is Turn.MINE


def test_a_later_reply_waits_until_the_earlier_event_is_handled_and_posted(
    turns: ChatTurns,
) -> None:
    turns.handled("g", 2, 1)  # event 2 was handled first, by a faster worker

    assert turns.check("g", 2, 0).turn is Turn.WAIT  # event 1 not handled yet
    turns.handled("g", 1, 2)
    assert turns.check("g", 2, 0).turn is Turn.WAIT  # event 1 has 2 replies to post
    turns.advance("g", 1, 0)
    assert turns.check("g", 1, 1).turn is Turn.MINE
    turns.advance("g", 1, 1)
    assert turns.check("g", 2, 0).turn is Turn.MINE


def test_events_without_replies_are_skipped(turns: ChatTurns) -> None:
    turns.handled("g", 1, 0)
    turns.handled("g", 2, 0)
    turns.handled("g", 3, 1)

    state = turns.check("g", 3, 0)

    assert state.turn is Turn.MINE
    assert state.current == (3, 0)


def test_a_reply_whose_turn_went_by_is_past(turns: ChatTurns) -> None:
    turns.handled("g", 1, 1)
    turns.advance("g", 1, 0)

    assert turns.check("g", 1, 0).turn is Turn.PAST


def test_advancing_someone_elses_turn_changes_nothing(turns: ChatTurns) -> None:
    turns.handled("g", 1, 2)

    turns.advance("g", 1, 1)  # not its turn: (1, 0) has not been posted

    assert turns.check("g", 1, 0).turn is Turn.MINE


def test_chats_are_independent(turns: ChatTurns) -> None:
    turns.handled("a", 2, 1)
    turns.handled("b", 1, 1)

    assert turns.check("a", 2, 0).turn is Turn.WAIT
    assert turns.check("b", 1, 0).turn is Turn.MINE


# -- parking and waking ---------------------------------------------------------


def test_a_reply_whose_turn_has_come_does_not_park(turns: ChatTurns, ledger: Ledger) -> None:
    turns.handled("g", 1, 1)
    entry = _reply(ledger, 1, 0)

    state = turns.park("g", 1, 0, entry)

    assert state.turn is Turn.MINE
    assert ledger.deadline(entry) is not None


def test_a_waiting_reply_parks_without_a_deadline_and_nothing_spins(
    turns: ChatTurns, ledger: Ledger, redis_client: redis.Redis
) -> None:
    turns.handled("g", 2, 1)
    entry = _reply(ledger, 2, 0)
    _taken(redis_client)

    state = turns.park("g", 2, 0, entry)

    assert state.turn is Turn.PARKED
    assert ledger.deadline(entry) is None  # the chat holds it: the reaper leaves it alone
    assert ledger.entry(entry) is not None
    assert turns.waiting_chats() == [Chat("g")]


def test_passing_the_turn_sends_the_parked_reply_now_due(
    turns: ChatTurns, ledger: Ledger, redis_client: redis.Redis, clock: FakeClock
) -> None:
    turns.handled("g", 1, 1)
    turns.handled("g", 2, 1)
    _reply(ledger, 1, 0)  # posted by its own task, then:
    second = _reply(ledger, 2, 0)
    _taken(redis_client)
    turns.park("g", 2, 0, second)

    state = turns.advance("g", 1, 0)

    assert state.woken == second
    assert redis_client.lrange("replies", 0, -1) == ["msg 2:0"]
    assert ledger.deadline(second) == clock.now + PROGRESS_BOUND
    assert turns.waiting_chats() == []


def test_an_event_handled_with_no_replies_sends_the_parked_reply_after_it(
    turns: ChatTurns, ledger: Ledger, redis_client: redis.Redis
) -> None:
    turns.handled("g", 2, 1)
    second = _reply(ledger, 2, 0)
    _taken(redis_client)
    turns.park("g", 2, 0, second)

    state = turns.handled("g", 1, 0)

    assert state.woken == second
    assert redis_client.lrange("replies", 0, -1) == ["msg 2:0"]


def test_only_the_reply_now_due_is_sent_the_others_stay_parked(
    turns: ChatTurns, ledger: Ledger, redis_client: redis.Redis
) -> None:
    for seq in (1, 2, 3):
        turns.handled("g", seq, 1)
    entries = {seq: _reply(ledger, seq, 0) for seq in (1, 2, 3)}
    _taken(redis_client)
    turns.park("g", 3, 0, entries[3])
    turns.park("g", 2, 0, entries[2])

    turns.advance("g", 1, 0)
    assert redis_client.lrange("replies", 0, -1) == ["msg 2:0"]
    turns.advance("g", 2, 0)

    assert redis_client.lrange("replies", 0, -1) == ["msg 3:0", "msg 2:0"]


def test_a_reply_outside_the_ledger_waits_without_parking(turns: ChatTurns) -> None:
    turns.handled("g", 2, 1)

    state = turns.park("g", 2, 0, reply_entry("evt-2:0"))

    assert state.turn is Turn.WAIT
    assert turns.waiting_chats() == [Chat("g")]


# -- releasing owners that are gone ----------------------------------------------


def test_a_gone_event_is_released_in_order_and_waiting_replies_never_leapfrog(
    turns: ChatTurns, ledger: Ledger, redis_client: redis.Redis, clock: FakeClock
) -> None:
    """Event 1 was lost before the ledger knew it; replies of events 2 and 3
    wait. After the grace, event 1 is skipped and only event 2's reply is
    sent; event 3's stays parked until event 2's is done."""
    turns.handled("g", 2, 1)
    turns.handled("g", 3, 1)
    second, third = _reply(ledger, 2, 0), _reply(ledger, 3, 0)
    _taken(redis_client)
    turns.park("g", 3, 0, third)
    turns.park("g", 2, 0, second)

    assert turns.release("g").released == []  # within the grace: it may still come
    clock.now += RELEASE_GRACE
    state = turns.release("g")

    assert state.released == [Released("g", 1, None, None)]
    assert state.woken == second
    assert redis_client.lrange("replies", 0, -1) == ["msg 2:0"]
    assert turns.check("g", 3, 0).turn is Turn.WAIT


def test_an_event_in_the_ledger_is_waited_for_however_long(
    turns: ChatTurns, ledger: Ledger, redis_client: redis.Redis, clock: FakeClock
) -> None:
    """Event 1 is in flight (the reaper sends it again if lost): never released."""
    args = enqueue_call(
        KEYS,
        lease_value="lease",
        event_id="u1",
        chat="g",
        queue_key="events",
        message="event message",
        task_id="t1",
        dedup_ttl=60,
        now=clock.now,
    )
    redis_client.set(KEYS.listener_lease, "lease")
    redis_client.eval(ENQUEUE_SCRIPT, len(args["keys"]), *args["keys"], *args["args"])
    turns.handled("g", 2, 1)
    second = _reply(ledger, 2, 0)
    turns.park("g", 2, 0, second)
    clock.now += 10 * RELEASE_GRACE

    assert turns.release("g").released == []
    assert turns.check("g", 2, 0).turn is Turn.WAIT


def test_a_reply_gone_after_its_event_was_handled_is_released(
    turns: ChatTurns, ledger: Ledger, redis_client: redis.Redis, clock: FakeClock
) -> None:
    turns.handled("g", 1, 2)  # reply (1, 0) was never registered: gone
    turns.handled("g", 2, 1)
    second = _reply(ledger, 1, 1)
    _taken(redis_client)
    turns.park("g", 1, 1, second)
    clock.now += RELEASE_GRACE

    state = turns.release("g")

    assert state.released == [Released("g", 1, 0, None)]
    assert state.woken == second


def test_a_reply_whose_ledger_entry_vanished_is_released_with_its_id(
    turns: ChatTurns, ledger: Ledger, redis_client: redis.Redis, clock: FakeClock
) -> None:
    turns.handled("g", 1, 1)
    turns.handled("g", 2, 1)
    lost, waiting = _reply(ledger, 1, 0), _reply(ledger, 2, 0)
    turns.park("g", 2, 0, waiting)
    ledger.done(lost)  # its entry is gone, but the chat still counts it in flight
    clock.now += RELEASE_GRACE

    assert turns.release("g").released == [Released("g", 1, 0, lost)]


def test_nothing_is_released_when_no_reply_waits(turns: ChatTurns, clock: FakeClock) -> None:
    turns.handled("g", 2, 1)
    clock.now += RELEASE_GRACE

    assert turns.release("g").released == []


# -- the listener's enqueue script ---------------------------------------------------


def _enqueue(redis_client: redis.Redis, uuid: str, chat: str = "g", lease: str = "L") -> int:
    args = enqueue_call(
        KEYS,
        lease_value=lease,
        event_id=uuid,
        chat=chat,
        queue_key="events",
        message=f"message {uuid}",
        task_id=f"task {uuid}",
        dedup_ttl=60,
        now=500.0,
    )
    return int(redis_client.eval(ENQUEUE_SCRIPT, len(args["keys"]), *args["keys"], *args["args"]))


def test_the_enqueue_script_numbers_the_event_and_records_it_in_flight(
    redis_client: redis.Redis,
) -> None:
    redis_client.set(KEYS.listener_lease, "L")

    assert _enqueue(redis_client, "u1") == Enqueued.ENQUEUED
    assert _enqueue(redis_client, "u2") == Enqueued.ENQUEUED

    assert seq_from_dedup(redis_client.get(KEYS.dedup("u2"))) == 2
    assert redis_client.lrange("events", 0, -1) == ["message u2", "message u1"]
    assert redis_client.hgetall(KEYS.chat_inflight("g")) == {
        "1": event_entry("u1"),
        "2": event_entry("u2"),
    }
    entry = json.loads(redis_client.hget(KEYS.ledger_entries, event_entry("u1")))
    assert entry == {"queue": "events", "message": "message u1"}
    assert redis_client.zscore(KEYS.ledger_deadlines, event_entry("u1")) == 500 + PROGRESS_BOUND


def test_a_duplicate_or_a_fenced_enqueue_writes_nothing(redis_client: redis.Redis) -> None:
    redis_client.set(KEYS.listener_lease, "L")
    _enqueue(redis_client, "u1")

    assert _enqueue(redis_client, "u1") == Enqueued.DUPLICATE
    assert _enqueue(redis_client, "u2", lease="stale") == Enqueued.FENCED

    assert redis_client.llen("events") == 1
    assert redis_client.hlen(KEYS.ledger_entries) == 1


def test_handling_an_event_removes_it_from_the_chats_in_flight(
    redis_client: redis.Redis, turns: ChatTurns
) -> None:
    redis_client.set(KEYS.listener_lease, "L")
    _enqueue(redis_client, "u1")

    turns.handled("g", 1, 0)

    assert redis_client.hgetall(KEYS.chat_inflight("g")) == {}


# -- one order per bot installation -------------------------------------------------


def _bots_reply(ledger: Ledger, seq: int, index: int, bot: str) -> str:
    """Installed bot ``bot``'s reply ``(seq, index)`` in chat "g", enqueued; its ledger id."""
    entry = reply_entry(f"evt-{seq}:{index}", bot=bot)
    ledger.register(
        entry, "replies", f"msg {bot} {seq}:{index}", group_id="g", turn=(seq, index), bot=bot
    )
    return entry


def test_two_bots_in_one_chat_never_wait_for_each_other(
    turns: ChatTurns, ledger: Ledger, redis_client: redis.Redis
) -> None:
    """The configured bot's first reply is not posted yet; the installed bot's posts anyway."""
    turns.handled("g", 1, 1)
    turns.handled("g", 2, 1)
    turns.handled("g", 1, 1, bot="b2")
    entry = _bots_reply(ledger, 1, 0, "b2")

    assert turns.check("g", 2, 0).turn is Turn.WAIT  # the configured bot's order waits
    assert turns.park("g", 1, 0, entry, bot="b2").turn is Turn.MINE
    assert redis_client.hgetall(KEYS.chat_inflight("g", "b2")) == {"1:0": entry}
    assert redis_client.hgetall(KEYS.chat_inflight("g")) == {}


def test_a_waiting_chat_names_its_bot_and_is_released_in_its_own_order(
    turns: ChatTurns, ledger: Ledger, redis_client: redis.Redis, clock: FakeClock
) -> None:
    """The installed bot's event 1 was lost; its event 2's reply waits, the configured bot's not."""
    turns.handled("g", 2, 1, bot="b2")
    second = _bots_reply(ledger, 2, 0, "b2")
    _taken(redis_client)
    assert turns.park("g", 2, 0, second, bot="b2").turn is Turn.PARKED
    turns.handled("g", 1, 1)
    assert turns.park("g", 1, 0, _reply(ledger, 1, 0)).turn is Turn.MINE

    assert turns.waiting_chats() == [Chat("g", "b2")]
    clock.now += RELEASE_GRACE
    state = turns.release("g", bot="b2")

    assert state.released == [Released("g", 1, None, None, "b2")]
    assert state.woken == second


def test_a_chat_names_itself_in_the_set_of_waiting_chats_and_back() -> None:
    assert Chat("g").member() == "g"
    assert Chat("g", "b2").member() == "bot:b2:g"
    assert Chat.from_member("bot:b2:g") == Chat("g", "b2")
    assert Chat.from_member("g") == Chat("g")


def test_the_enqueue_script_numbers_an_installed_bots_event_in_its_own_order(
    redis_client: redis.Redis,
) -> None:
    """The same post reaches the configured bot and an installed one: two events, two orders."""
    redis_client.set(KEYS.listener_lease, "L")
    envelope = {"uuid": "u1", "ownerId": "b2", "body": {"eventType": "PostAdded", "id": "p1"}}
    theirs = {**envelope, "uuid": "u2", "ownerId": "b1"}

    assert _enqueue(redis_client, event_id(envelope, installed=True)) == Enqueued.ENQUEUED
    assert _enqueue(redis_client, event_id(theirs)) == Enqueued.ENQUEUED
    assert _enqueue(redis_client, event_id(envelope, installed=True)) == Enqueued.DUPLICATE

    assert seq_from_dedup(redis_client.get(KEYS.dedup("bot:b2:post:p1"))) == 1
    assert seq_from_dedup(redis_client.get(KEYS.dedup("post:p1"))) == 1
    assert redis_client.hgetall(KEYS.chat_inflight("g", "b2")) == {
        "1": event_entry("bot:b2:post:p1")
    }
    assert redis_client.hgetall(KEYS.chat_inflight("g")) == {"1": event_entry("post:p1")}
