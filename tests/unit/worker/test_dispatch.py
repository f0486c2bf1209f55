"""worker.dispatch: one notification in, replies enqueued, the chat's turn told, failures kept."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from fake_accounts import Accounts, FakeAccount

from glipbot.bot import Bot, CachingDirectory, Context
from glipbot.contracts.chat_order import ChatTurns, Turn
from glipbot.contracts.identity import event_id
from glipbot.errors import DeadLetteredError, NetworkError, TransientError
from glipbot.events import Event
from glipbot.state.counters import Counters
from glipbot.state.deadletters import DeadLetters
from glipbot.state.installations import Installation, InstallationStore
from glipbot.state.keys import Keys
from glipbot.testing import BOT_ID, GROUP_ID, FakeDirectory, make_post_event
from worker.dispatch import Dispatcher
from worker.installations import Installations, Route
from worker.replies import Outgoing

KEYS = Keys("test:")
OTHER_BOT = "9002"
OTHER_TOKEN = "tok-9002"
PAULA = "2001"
OTHER_CHAT = "2345"


def _bot() -> Bot:
    bot = Bot("test")

    @bot.command("two")
    def two(ctx: Context) -> None:
        ctx.say("one")
        ctx.say("two")

    @bot.command("whoami")
    def whoami(ctx: Context) -> None:
        author = ctx.person(ctx.post.creator_id).full_name if ctx.post else ""
        where = ctx.installation
        ctx.say(f"{author} wrote to {where.bot_id} ({where.kind}) in account {where.account_id}")

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
    """The configured bot (``BOT_ID``) and an installed one (``OTHER_BOT`` in account ``acc-2``)."""

    def __init__(self, client: redis.Redis) -> None:
        self.sent: list[Outgoing] = []
        self.turns = ChatTurns(client, KEYS)
        self.dead = DeadLetters(client, KEYS.dead_letters)
        self.counters = Counters(client, KEYS.counters, bot_key=KEYS.bot_counters)
        self.store = InstallationStore(client, KEYS)
        self.other = FakeAccount(
            FakeDirectory()
            .add_person(PAULA, "Paula", "Pérez")
            .add_group(OTHER_CHAT, [PAULA, OTHER_BOT]),
            OTHER_TOKEN,
        )
        self.accounts = Accounts(**{OTHER_BOT: self.other})
        configured = Route(None, None, CachingDirectory(FakeDirectory.seed()), lambda: BOT_ID)
        self.dispatcher = Dispatcher(
            bot=_bot(),
            installations=Installations(self.store, configured, self.accounts.connect),
            turns=self.turns,
            dead_letters=self.dead,
            counters=self.counters,
            enqueue=self.sent.append,
        )

    def install(self, token: str = OTHER_TOKEN) -> None:
        self.store.put(Installation(OTHER_BOT, "acc-2", "public", 1.0, token=token))


def _others_post(text: str, uuid: str) -> dict[str, Any]:
    """Paula writes to the installed bot in their private chat."""
    event = make_post_event(
        text, creator_id=PAULA, group_id=OTHER_CHAT, bot_id=OTHER_BOT, uuid=uuid
    )
    return _envelope(event)


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


# -- each event as its installation -------------------------------------------------


def test_an_installed_bots_event_is_answered_as_that_installation(harness: Harness) -> None:
    harness.install()

    sent = harness.dispatcher.handle(_others_post("whoami", uuid="e1"), seq=1)

    assert [(o.reply.text, o.bot_id, o.seq) for o in sent] == [
        ("Paula Pérez wrote to 9002 (public) in account acc-2", OTHER_BOT, 1)
    ]
    assert harness.other.directory.calls == [("group", OTHER_CHAT), ("person", PAULA)]
    assert harness.accounts.connected == [OTHER_BOT]
    assert harness.counters.of_bot(OTHER_BOT) == {"events_handled": 1, "replies_enqueued": 1}


def test_the_configured_bots_event_sees_itself_as_configured(harness: Harness) -> None:
    sent = harness.dispatcher.handle(_envelope(make_post_event("whoami", uuid="e1")), seq=1)

    assert [(o.reply.text, o.bot_id) for o in sent] == [
        ("John Smith wrote to 9001 (configured) in account ", None)
    ]
    assert harness.accounts.connected == []


def test_an_installed_bots_event_takes_its_place_in_that_bots_order_of_the_chat(
    harness: Harness, redis_client: redis.Redis
) -> None:
    """The listener numbered it under the event id that carries the bot."""
    harness.install()
    envelope = _others_post("two", uuid="e7")
    redis_client.set(KEYS.dedup(event_id(envelope, installed=True)), "task-id|7")
    redis_client.set(KEYS.dedup(event_id(envelope)), "task-id|3")  # another bot's: not this one

    sent = harness.dispatcher.handle(envelope)

    assert {o.seq for o in sent} == {7}
    assert harness.dispatcher.event_key(envelope) == f"bot:{OTHER_BOT}:{event_id(envelope)}"
    assert harness.turns.check(OTHER_CHAT, 7, 0, bot=OTHER_BOT).turn is Turn.WAIT  # 1..6 first


def test_an_event_of_an_unknown_bot_is_dead_lettered_and_never_answered(
    harness: Harness,
) -> None:
    envelope = _others_post("whoami", uuid="e1")

    with pytest.raises(DeadLetteredError, match="unknown_installation"):
        harness.dispatcher.handle(envelope, seq=1)

    [letter] = harness.dead.list()
    assert (letter["reason"], letter["payload"]) == ("unknown_installation", envelope)
    assert letter["context"] == {"seq": 1, "bot_id": OTHER_BOT, "installation": "unknown"}
    assert harness.sent == []
    assert harness.accounts.connected == []
    assert harness.counters.all() == {
        "events_unknown_installation": 1,
        "dead_letters_handle_event": 1,
    }
    assert harness.turns.check(OTHER_CHAT, 2, 0).turn is Turn.MINE  # its chat goes on


def test_an_event_of_a_removed_installation_is_dead_lettered_and_frees_its_order(
    harness: Harness,
) -> None:
    harness.install()
    harness.store.remove(OTHER_BOT, "uninstalled")

    with pytest.raises(DeadLetteredError, match="unknown_installation"):
        harness.dispatcher.handle(_others_post("whoami", uuid="e1"), seq=1)

    assert harness.dead.list()[0]["context"]["installation"] == "removed"
    assert harness.turns.check(OTHER_CHAT, 2, 0, bot=OTHER_BOT).turn is Turn.MINE


def test_an_event_whose_bot_token_is_refused_is_dead_lettered_naming_the_bot(
    harness: Harness,
) -> None:
    """The bot was removed from its account: the platform refuses its token (401)."""
    harness.install(token="tok-revoked")

    with pytest.raises(DeadLetteredError, match="installation_token_refused"):
        harness.dispatcher.handle(_others_post("whoami", uuid="e1"), seq=1)

    [letter] = harness.dead.list()
    assert letter["context"]["bot_id"] == OTHER_BOT
    assert "tok-revoked" not in str(letter)
    assert harness.sent == []
    assert harness.counters.of_bot(OTHER_BOT) == {
        "installation_tokens_refused": 1,
        "dead_letters_handle_event": 1,
    }
    assert harness.turns.check(OTHER_CHAT, 2, 0, bot=OTHER_BOT).turn is Turn.MINE


def test_giving_up_frees_the_turn_in_the_installed_bots_order(
    harness: Harness, redis_client: redis.Redis
) -> None:
    harness.install()
    envelope = _others_post("flaky", uuid="e1")
    redis_client.set(KEYS.dedup(event_id(envelope, installed=True)), "task-id|1")

    harness.dispatcher.give_up(envelope, None, NetworkError("still down"))

    assert harness.dead.list()[0]["context"]["bot_id"] == OTHER_BOT
    assert harness.turns.check(OTHER_CHAT, 2, 0, bot=OTHER_BOT).turn is Turn.MINE
