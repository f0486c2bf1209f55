"""How Bot.handle picks handlers: who is answered, which handler wins, what comes back."""

from __future__ import annotations

import pytest

from glipbot.bot import Bot, Context, HandlerError, PermanentHandlerError, TransientHandlerError
from glipbot.errors import NetworkError
from glipbot.testing import (
    BOT_ID,
    GROUP_ID,
    JOHN_ID,
    FakeDirectory,
    make_join_event,
    make_post_event,
    mention,
    simulate_join,
    simulate_post,
)

JANE_ID = "1002"
TEAM = (JOHN_ID, JANE_ID, BOT_ID)


def echo_bot() -> Bot:
    """A bot that says back what its handlers saw."""
    bot = Bot("echo")

    @bot.command("help")
    def help_(ctx: Context) -> str:
        return f"help {' '.join(ctx.args)}".strip()

    @bot.match(r"book (?P<what>\w+)")
    def book(ctx: Context) -> str:
        return f"booking {ctx.capture('what')}"

    @bot.match(r"book")
    def book_anything(ctx: Context) -> str:
        return "booking something"

    @bot.fallback
    def fallback(ctx: Context) -> str:
        return f"fallback: {ctx.text}"

    return bot


def texts(replies: list) -> list[str]:
    return [r.text for r in replies]


def test_the_bot_ignores_its_own_posts() -> None:
    assert simulate_post(echo_bot(), "help", creator_id=BOT_ID) == []


def test_a_private_chat_is_answered_without_a_mention() -> None:
    assert texts(simulate_post(echo_bot(), "book flight")) == ["booking flight"]


def test_a_group_chat_without_a_mention_is_ignored() -> None:
    assert simulate_post(echo_bot(), "book flight", members=TEAM) == []


def test_a_group_chat_is_answered_when_mentioned_in_the_mentions_list() -> None:
    replies = simulate_post(echo_bot(), "book flight", members=TEAM, mentions=[BOT_ID])
    assert texts(replies) == ["booking flight"]


def test_a_group_chat_is_answered_when_mentioned_only_in_the_markup() -> None:
    text = f"{mention(BOT_ID)} book   flight"
    assert texts(simulate_post(echo_bot(), text, members=TEAM)) == ["booking flight"]


def test_mentioning_someone_else_does_not_address_the_bot() -> None:
    text = f"{mention(JANE_ID)} book flight"
    assert simulate_post(echo_bot(), text, members=TEAM, mentions=[JANE_ID]) == []


def test_mention_markup_is_stripped_before_matching() -> None:
    """The command is the first word once the mention is gone, team mentions included."""
    text = f"{mention(BOT_ID)}  ![:Team](77)\n help me"
    assert texts(simulate_post(echo_bot(), text, members=TEAM)) == ["help me"]


def test_commands_beat_patterns_and_patterns_beat_the_fallback() -> None:
    bot = echo_bot()
    assert texts(simulate_post(bot, "help book flight")) == ["help book flight"]
    assert texts(simulate_post(bot, "please book flight")) == ["booking flight"]
    assert texts(simulate_post(bot, "what now?")) == ["fallback: what now?"]


def test_the_first_registered_pattern_wins() -> None:
    assert texts(simulate_post(echo_bot(), "BOOK !")) == ["booking something"]


@pytest.mark.parametrize("text", ["help", "HELP", "/help", "Help!", "/Help?"])
def test_commands_match_any_case_with_or_without_a_slash(text: str) -> None:
    assert texts(simulate_post(echo_bot(), text)) == ["help"]


def test_a_command_must_be_the_first_word() -> None:
    assert texts(simulate_post(echo_bot(), "I need help")) == ["fallback: I need help"]


def test_without_a_fallback_an_unmatched_text_gets_no_reply() -> None:
    bot = Bot()
    bot.command("help")(lambda ctx: "help")
    assert simulate_post(bot, "hello") == []


def test_reply_keys_are_the_event_uuid_and_the_position() -> None:
    bot = Bot()

    @bot.fallback
    def twice(ctx: Context) -> None:
        ctx.say("one")
        ctx.say("two")

    event = make_post_event("anything", uuid="evt-42")
    first = bot.handle(event, FakeDirectory.seed())
    again = bot.handle(event, FakeDirectory.seed())

    assert [r.key for r in first] == ["evt-42:0", "evt-42:1"]
    assert first == again
    assert {r.group_id for r in first} == {GROUP_ID}


def test_the_bot_id_defaults_to_the_envelope_owner() -> None:
    event = make_post_event("help", creator_id=BOT_ID, bot_id=BOT_ID)
    assert echo_bot().handle(event, FakeDirectory.seed()) == []


def test_a_raising_handler_surfaces_as_a_handler_error_with_context() -> None:
    bot = Bot()

    @bot.fallback
    def broken(ctx: Context) -> None:
        raise KeyError("boom")

    event = make_post_event("hi", uuid="evt-7")
    with pytest.raises(PermanentHandlerError) as caught:
        bot.handle(event, FakeDirectory.seed())

    error = caught.value
    assert isinstance(error, HandlerError)
    assert (error.event_uuid, error.group_id) == ("evt-7", GROUP_ID)
    assert error.handler.endswith("broken")
    assert isinstance(error.__cause__, KeyError)


def test_a_transient_failure_inside_a_handler_is_retryable() -> None:
    bot = Bot()

    @bot.fallback
    def flaky(ctx: Context) -> None:
        raise NetworkError("timeout")

    with pytest.raises(TransientHandlerError) as caught:
        simulate_post(bot, "hi")
    assert isinstance(caught.value.__cause__, NetworkError)


def test_a_handler_returning_something_else_than_text_is_an_error() -> None:
    bot = Bot()
    bot.fallback(lambda ctx: 42)  # type: ignore[arg-type, return-value]
    with pytest.raises(PermanentHandlerError, match="returned int"):
        simulate_post(bot, "hi")


def test_joining_a_chat_runs_every_join_handler_in_order() -> None:
    bot = Bot()
    bot.on_join(lambda ctx: "hello")
    bot.on_join(lambda ctx: f"{len(ctx.chat.members)} of us")
    replies = simulate_join(bot)
    assert texts(replies) == ["hello", "2 of us"]
    assert [r.index for r in replies] == [0, 1]


def test_a_join_event_of_a_chat_without_the_bot_is_ignored() -> None:
    bot = Bot()
    bot.on_join(lambda ctx: "hello")
    event = make_join_event(members=(JOHN_ID, JANE_ID))
    assert bot.handle(event, FakeDirectory.seed()) == []


def test_non_text_posts_are_ignored_unless_a_hook_asks_for_them() -> None:
    event = make_post_event("", post_type="PersonsAdded")
    bot = echo_bot()
    assert bot.handle(event, FakeDirectory.seed()) == []

    bot.on("PersonsAdded")(lambda ctx: "welcome")
    assert texts(bot.handle(event, FakeDirectory.seed())) == ["welcome"]


def test_edits_are_ignored_by_default_and_reach_a_hook() -> None:
    event = make_post_event("book flight", event_type="PostChanged")
    bot = echo_bot()
    assert bot.handle(event, FakeDirectory.seed()) == []

    bot.on("PostChanged")(lambda ctx: "edited")
    assert texts(bot.handle(event, FakeDirectory.seed())) == ["edited"]


def test_registration_mistakes_fail_at_import_time() -> None:
    bot = echo_bot()
    with pytest.raises(ValueError, match="already registered"):
        bot.command("HELP")
    with pytest.raises(ValueError, match="single words"):
        bot.command("two words")
    with pytest.raises(ValueError, match="fallback"):
        bot.fallback(lambda ctx: None)
    with pytest.raises(ValueError, match="unknown hook"):
        bot.on("PostAdded")
