"""glipbot.contracts.chat_order: replies of one chat leave in the order of their messages."""

from __future__ import annotations

import redis

from glipbot.contracts.chat_order import ChatTurns, Turn
from glipbot.state.keys import Keys

KEYS = Keys("test:")


def test_the_first_reply_of_the_first_event_goes_first(redis_client: redis.Redis) -> None:
    turns = ChatTurns(redis_client, KEYS)
    turns.handled("g", 1, 1)

    assert turns.check("g", 1, 0).turn is Turn.MINE


def test_a_later_reply_waits_until_the_earlier_event_is_handled_and_posted(
    redis_client: redis.Redis,
) -> None:
    turns = ChatTurns(redis_client, KEYS)
    turns.handled("g", 2, 1)  # event 2 was handled first, by a faster worker

    assert turns.check("g", 2, 0).turn is Turn.WAIT  # event 1 not handled yet
    turns.handled("g", 1, 2)
    assert turns.check("g", 2, 0).turn is Turn.WAIT  # event 1 has 2 replies to post
    turns.advance("g", 1, 0)
    assert turns.check("g", 1, 1).turn is Turn.MINE
    turns.advance("g", 1, 1)
    assert turns.check("g", 2, 0).turn is Turn.MINE


def test_events_without_replies_are_skipped(redis_client: redis.Redis) -> None:
    turns = ChatTurns(redis_client, KEYS)
    turns.handled("g", 1, 0)
    turns.handled("g", 2, 0)
    turns.handled("g", 3, 1)

    state = turns.check("g", 3, 0)

    assert state.turn is Turn.MINE
    assert state.current == (3, 0)


def test_a_reply_whose_turn_went_by_is_past(redis_client: redis.Redis) -> None:
    turns = ChatTurns(redis_client, KEYS)
    turns.handled("g", 1, 1)
    turns.advance("g", 1, 0)

    assert turns.check("g", 1, 0).turn is Turn.PAST


def test_advancing_someone_elses_turn_changes_nothing(redis_client: redis.Redis) -> None:
    turns = ChatTurns(redis_client, KEYS)
    turns.handled("g", 1, 2)

    turns.advance("g", 1, 1)  # not its turn: (1, 0) has not been posted

    assert turns.check("g", 1, 0).turn is Turn.MINE


def test_force_skips_an_event_that_never_arrived(redis_client: redis.Redis) -> None:
    turns = ChatTurns(redis_client, KEYS)
    turns.handled("g", 2, 1)  # event 1 was lost before it was handled

    assert turns.check("g", 2, 0).turn is Turn.WAIT
    turns.force("g", 2, 0)

    assert turns.check("g", 2, 0).turn is Turn.MINE


def test_chats_are_independent(redis_client: redis.Redis) -> None:
    turns = ChatTurns(redis_client, KEYS)
    turns.handled("a", 2, 1)
    turns.handled("b", 1, 1)

    assert turns.check("a", 2, 0).turn is Turn.WAIT
    assert turns.check("b", 1, 0).turn is Turn.MINE


def test_the_listeners_sequence_number_is_read_from_the_dedup_key(
    redis_client: redis.Redis,
) -> None:
    turns = ChatTurns(redis_client, KEYS)
    redis_client.set(KEYS.dedup("in-chat"), "task-1|42")
    redis_client.set(KEYS.dedup("no-chat"), "task-2|")

    assert turns.seq_of("in-chat") == 42
    assert turns.seq_of("no-chat") is None
    assert turns.seq_of("never-seen") is None
