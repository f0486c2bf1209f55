"""worker.dispatch: one notification in, replies enqueued, the chat's turn told, failures kept."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from glipbot.bot import Bot, Context
from glipbot.contracts.chat_order import ChatTurns, Turn
from glipbot.contracts.identity import event_id
from glipbot.errors import DeadLetteredError, NetworkError, TransientError
from glipbot.events import Event
from glipbot.state.counters import Counters
from glipbot.state.deadletters import DeadLetters
from glipbot.state.keys import Keys
from glipbot.testing import BOT_ID, GROUP_ID, FakeDirectory, make_post_event
from worker.dispatch import Dispatcher
from worker.replies import Outgoing

KEYS = Keys("test:")


def _bot() -> Bot:
    bot = Bot("test")

    @bot.command("two")
    def two(ctx: Context) -> None:
        ctx.say("one")
        ctx.say("two")

    @bot.command("boom")
    def boom(ctx: Context) -> None:
        raise ValueError("boom")

    @bot.command("flaky")
    def flaky(ctx: Context) -> None:
        raise NetworkError("the directory timed out")

    @bot.fallback
    def quiet(ctx: Context) -> None:
        return None

    return bot


def _envelope(event: Event) -> dict[str, Any]:
    env = event.envelope
    return {
        "uuid": env.uuid,
        "event": env.event,
        "timestamp": env.timestamp,
        "subscriptionId": env.subscription_id,
        "ownerId": env.owner_id,
        "body": env.body,
    }


class Harness:
    def __init__(self, client: redis.Redis) -> None:
        self.sent: list[Outgoing] = []
        self.turns = ChatTurns(client, KEYS)
        self.dead = DeadLetters(client, KEYS.dead_letters)
        self.counters = Counters(client, KEYS.counters)
        self.dispatcher = Dispatcher(
            bot=_bot(),
            directory=FakeDirectory.seed(),
            turns=self.turns,
            dead_letters=self.dead,
            counters=self.counters,
            enqueue=self.sent.append,
        )


@pytest.fixture
def harness(redis_client: redis.Redis) -> Harness:
    return Harness(redis_client)


def test_replies_are_enqueued_with_their_event_and_position(harness: Harness) -> None:
    event = make_post_event("two", uuid="evt-1")

    sent = harness.dispatcher.handle(_envelope(event), seq=1)

    assert [(o.key, o.reply.text, o.seq) for o in sent] == [
        ("evt-1:0", "one", 1),
        ("evt-1:1", "two", 1),
    ]
    assert harness.sent == sent
    assert harness.counters.all() == {"events_handled": 1, "replies_enqueued": 2}


def test_the_chat_learns_how_many_replies_the_event_produced(harness: Harness) -> None:
    harness.dispatcher.handle(_envelope(make_post_event("nothing to say", uuid="e1")), seq=1)
    harness.dispatcher.handle(_envelope(make_post_event("two", uuid="e2")), seq=2)

    # Event 1 produced nothing, so the turn goes straight to event 2's first reply.
    assert harness.turns.check(GROUP_ID, 2, 0).turn is Turn.MINE


def test_without_a_seq_the_listeners_number_is_used(
    harness: Harness, redis_client: redis.Redis
) -> None:
    envelope = _envelope(make_post_event("two", uuid="evt-7"))
    redis_client.set(KEYS.dedup(event_id(envelope)), "task-id|7")

    sent = harness.dispatcher.handle(envelope)

    assert {o.seq for o in sent} == {7}


def test_a_malformed_notification_is_dead_lettered_and_raised(harness: Harness) -> None:
    envelope = _envelope(make_post_event("two", uuid="evt-1"))
    del envelope["body"]["groupId"]

    with pytest.raises(DeadLetteredError, match="invalid event: body lacks groupId"):
        harness.dispatcher.handle(envelope, seq=1)

    [letter] = harness.dead.list()
    assert (letter["source"], letter["payload"]) == ("handle_event", envelope)
    assert harness.sent == []


def test_a_raising_handler_is_dead_lettered_and_frees_the_chat(harness: Harness) -> None:
    with pytest.raises(DeadLetteredError, match="handler failed"):
        harness.dispatcher.handle(_envelope(make_post_event("boom", uuid="e1")), seq=1)
    harness.dispatcher.handle(_envelope(make_post_event("two", uuid="e2")), seq=2)

    [letter] = harness.dead.list()
    assert letter["context"]["handler"].endswith("boom")
    assert harness.counters.all()["dead_letters_handle_event"] == 1
    assert harness.turns.check(GROUP_ID, 2, 0).turn is Turn.MINE


def test_a_transient_failure_is_raised_for_a_retry_and_given_up_later(harness: Harness) -> None:
    envelope = _envelope(make_post_event("flaky", uuid="e1"))

    with pytest.raises(TransientError):  # the task retries these
        harness.dispatcher.handle(envelope, seq=1)
    assert harness.dead.count() == 0

    error = harness.dispatcher.give_up(envelope, 1, NetworkError("still down"))

    assert "retries exhausted" in error.reason
    assert harness.dead.count() == 1
    assert harness.turns.check(GROUP_ID, 2, 0).turn is Turn.MINE


def test_an_unexpected_failure_is_given_up_at_once_and_frees_the_chat(harness: Harness) -> None:
    """A bug outside the bot's handlers (say a KeyError) is not retried, and not lost."""
    envelope = _envelope(make_post_event("anything", uuid="e2"))

    error = harness.dispatcher.give_up(envelope, 1, KeyError("groupId"), attempts=1)

    assert error.reason == "failed: KeyError: 'groupId'"
    assert harness.dead.list(0, 0)[0]["payload"] == envelope
    assert harness.turns.check(GROUP_ID, 2, 0).turn is Turn.MINE


def test_the_bots_own_posts_produce_nothing(harness: Harness) -> None:
    event = make_post_event("two", creator_id=BOT_ID, uuid="own")

    assert harness.dispatcher.handle(_envelope(event), seq=1) == []


def test_giving_up_without_a_seq_frees_the_turn_the_listener_gave_the_event(
    harness: Harness, redis_client: redis.Redis
) -> None:
    """The listener's events carry no seq: the dispatcher reads it, to give up as to handle."""
    envelope = _envelope(make_post_event("flaky", uuid="e1"))
    redis_client.set(KEYS.dedup(event_id(envelope)), "task-id|1")

    harness.dispatcher.give_up(envelope, None, NetworkError("still down"))

    assert harness.turns.check(GROUP_ID, 2, 0).turn is Turn.MINE
