"""Real workers answer each event as the installation it belongs to, with its own token.

One stack for the module: the sandbox, two Celery worker processes and
SmartFriend, no listener. The bot is installed privately in new sandbox
accounts (``SandboxControl.install``: the sandbox POSTs the bot's token to a
redirect URI, here the test's own) and each installation is recorded in
Redis as the install endpoint records it. A person of that account writes to
the bot, and the notification the platform would send to that bot (its
``ownerId``) is enqueued as the listener enqueues it: the answer must come
from that bot, made with that bot's token (the sandbox records whose token
each call carried), never from the configured bot.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from devtools.processes import wait_for
from glipbot.state.deadletters import DeadLetters
from tests.support.stack import BOT_ID, POSTS, InstalledBot, Stack

#: The seed's flight request, and the offline provider's booking of it (name-free).
FLIGHT_REQUEST = (
    "Please book me a flight New York \N{EN DASH} San Francisco 05/06/17, ID #5674028947"
)
BOOKING = (
    "Absolutely! Your flight is booked \N{EN DASH} AS2270 06MAY JFK-SFO 1520 1801, "
    "ticket number 0276194114768. Have a safe trip!"
)
ANSWER_WITHIN = 15.0


@pytest.fixture(scope="module")
def stack(start_stack: object) -> Stack:
    return start_stack(workers=2, listener=False)  # type: ignore[operator, no-any-return]


@pytest.fixture(scope="module")
def letters(stack: Stack) -> DeadLetters:
    return DeadLetters(stack.redis, stack.keys.dead_letters)


def _private_chat(bot: InstalledBot) -> str:
    """The account's first person opens a private chat with the installed bot."""
    person = bot.people[0]
    resp = person.post(
        "/glip/groups", json={"type": "PrivateChat", "members": [{"id": bot.bot_id}]}
    )
    resp.raise_for_status()
    return str(resp.json()["id"])


def _posted(bot: InstalledBot, chat_id: str, text: str) -> dict[str, Any]:
    resp = bot.people[0].post("/glip/posts", json={"groupId": chat_id, "text": text})
    resp.raise_for_status()
    return dict(resp.json())


def _notify(stack: Stack, owner_id: str, post: dict[str, Any]) -> str:
    """Enqueue the ``PostAdded`` notification of ``post`` to bot ``owner_id``; its uuid."""
    envelope = {
        "uuid": f"stack-{uuid.uuid4().hex}",
        "event": POSTS,
        "timestamp": post["creationTime"],
        "subscriptionId": "stack-installations",
        "ownerId": owner_id,
        "body": {**post, "eventType": "PostAdded"},
    }
    stack.send_task("tasks.events.handle_event", envelope)
    return str(envelope["uuid"])


def _dead_letter(letters: DeadLetters, event_uuid: str) -> dict[str, Any]:
    def kept() -> dict[str, Any] | None:
        found = [r for r in letters.list() if (r.get("payload") or {}).get("uuid") == event_uuid]
        return found[0] if found else None

    return dict(wait_for(kept, ANSWER_WITHIN, 0.05))


def test_an_installed_bots_event_is_answered_with_that_installations_token(
    stack: Stack,
) -> None:
    bot = stack.install_bot()
    chat_id = _private_chat(bot)
    _notify(stack, bot.bot_id, _posted(bot, chat_id, FLIGHT_REQUEST))

    posts = wait_for(lambda: stack.bot_posts(chat_id, bot_id=bot.bot_id), ANSWER_WITHIN, 0.05)

    assert [p["body"]["text"] for p in posts] == [BOOKING]  # "who": the token's owner
    assert stack.bot_posts(chat_id) == []  # never the configured bot
    assert stack.chat_texts(chat_id, who=bot.people[0]) == [
        (bot.people[0].id, FLIGHT_REQUEST),
        (bot.bot_id, BOOKING),
    ]
    posted = stack.wait_log("reply_posted", bot_id=bot.bot_id)
    assert posted["group_id"] == chat_id
    # Its calls were counted in its own rate-limit window, and its replies in its counters.
    assert stack.redis.zcard(stack.keys.ratelimit("Light", bot.bot_id)) >= 1
    assert stack.redis.hget(stack.keys.bot_counters(bot.bot_id), "replies_posted") == "1"
    assert all(bot.token not in worker.output() for worker in stack.workers)


def test_an_event_of_an_unknown_bot_is_dead_lettered_and_never_answered(
    stack: Stack, letters: DeadLetters
) -> None:
    bot = stack.install_bot()
    chat_id = _private_chat(bot)
    unknown = "409999999"

    event_uuid = _notify(stack, unknown, _posted(bot, chat_id, FLIGHT_REQUEST))
    letter = _dead_letter(letters, event_uuid)

    assert (letter["source"], letter["reason"]) == ("handle_event", "unknown_installation")
    assert letter["context"]["bot_id"] == unknown
    assert stack.wait_log("installation_unknown", bot_id=unknown)
    assert [
        r
        for r in stack.sandbox.control.requests(path=POSTS, method="POST")
        if r["body"].get("groupId") == chat_id and r["who"] != bot.people[0].id
    ] == []


def test_an_event_of_a_bot_removed_from_its_account_is_dead_lettered_naming_the_bot(
    stack: Stack, letters: DeadLetters
) -> None:
    """The bot was uninstalled, but its record is still active: the platform refuses its token."""
    bot = stack.install_bot()
    chat_id = _private_chat(bot)
    post = _posted(bot, chat_id, FLIGHT_REQUEST)
    stack.sandbox.control.uninstall(bot.bot_id)

    letter = _dead_letter(letters, _notify(stack, bot.bot_id, post))

    assert letter["reason"] == "installation_token_refused"
    assert letter["context"]["bot_id"] == bot.bot_id
    assert stack.wait_log("installation_token_refused", bot_id=bot.bot_id)
    assert stack.bot_posts(chat_id, bot_id=bot.bot_id) == []
    assert stack.bot_posts(chat_id) == []
    assert bot.token not in str(letter)
    assert all(bot.token not in worker.output() for worker in stack.workers)
    assert BOT_ID not in {r["who"] for r in stack.sandbox.control.requests(path=f"*{chat_id}*")}
