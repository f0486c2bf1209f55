"""What a handler sees and records through its Context."""

from __future__ import annotations

import pytest

from glipbot.bot import Bot, CachingDirectory, Context, InstallationInfo, Reply, card
from glipbot.testing import (
    BOT_ID,
    GROUP_ID,
    JOHN_ID,
    FakeDirectory,
    make_post_event,
    simulate_post,
)


def run(
    handler_body: object, text: str = "hello", directory: FakeDirectory | None = None
) -> Context:
    """Run one fallback handler and return the context it was given."""
    seen: list[Context] = []
    bot = Bot()

    @bot.fallback
    def capture(ctx: Context) -> None:
        seen.append(ctx)
        if callable(handler_body):
            handler_body(ctx)

    simulate_post(bot, text, directory=directory)
    return seen[0]


def test_the_context_carries_the_post_and_the_normalized_text() -> None:
    ctx = run(None, text="  hello \n   world ")
    assert ctx.post is not None
    assert ctx.post.creator_id == JOHN_ID
    assert ctx.text == "hello world"
    assert ctx.match is None
    assert ctx.args == ()


def test_the_chat_is_looked_up_lazily_and_once() -> None:
    directory = FakeDirectory.seed()
    ctx = run(lambda ctx: (ctx.chat, ctx.chat), directory=directory)
    assert ctx.chat.type == "PrivateChat"
    assert directory.calls.count(("group", GROUP_ID)) == 1


def test_person_lookups_are_cached_within_an_event() -> None:
    directory = FakeDirectory.seed()
    names: list[str] = []
    run(
        lambda ctx: names.extend(ctx.person(JOHN_ID).first_name for _ in range(3)),
        directory=directory,
    )
    assert names == ["John", "John", "John"]
    assert directory.calls.count(("person", JOHN_ID)) == 1


def test_a_shared_caching_directory_caches_across_events() -> None:
    directory = FakeDirectory.seed()
    shared = CachingDirectory(directory)
    bot = Bot()
    bot.fallback(lambda ctx: ctx.person(JOHN_ID).full_name)
    for _ in range(3):
        bot.handle(make_post_event("hi"), shared)
    assert directory.calls.count(("person", JOHN_ID)) == 1


def test_say_puts_attachments_before_the_card() -> None:
    image = {"type": "Image", "uri": "https://example.com/a.png"}
    ctx = run(lambda ctx: ctx.say("see", attachments=[image], card=card(title="T")))
    assert ctx.replies[0].attachments == (image, {"type": "Card", "fallback": "T", "title": "T"})


def test_say_needs_something_to_say_and_respects_platform_limits() -> None:
    def misuse(ctx: Context) -> None:
        with pytest.raises(ValueError, match="needs a text"):
            ctx.say()
        with pytest.raises(ValueError, match="limit"):
            ctx.say("x" * 10_001)
        with pytest.raises(ValueError, match="limit"):
            ctx.say(attachments=[{"type": "Card"}] * 21)

    assert run(misuse).replies == ()


def test_a_reply_survives_a_round_trip_through_json() -> None:
    reply = Reply("evt:1", GROUP_ID, "hi", ({"type": "Card", "title": "T"},))
    assert reply.index == 1
    assert Reply.from_json(reply.to_json()) == reply
    assert reply.body() == {
        "groupId": GROUP_ID,
        "text": "hi",
        "attachments": [dict(reply.attachments[0])],
    }


def test_a_handler_sees_the_configured_bot_by_default() -> None:
    ctx = run(None)

    assert ctx.installation == InstallationInfo(BOT_ID, "", "configured")
    assert ctx.installation.configured


def test_a_handler_sees_the_installation_the_event_reached() -> None:
    """The worker passes it; the bot id and look-ups are that installation's."""
    seen: list[Context] = []
    bot = Bot()
    bot.fallback(seen.append)  # type: ignore[arg-type]
    installed = InstallationInfo("b2", "acc-2", "public")
    directory = FakeDirectory.seed().add_group(GROUP_ID, [JOHN_ID, "b2"])

    bot.handle(make_post_event("hi", bot_id="b2"), directory, installation=installed)

    assert seen[0].installation == installed
    assert not seen[0].installation.configured
    assert seen[0].bot_id == "b2"
