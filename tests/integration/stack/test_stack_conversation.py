"""Conversations with SmartFriend through the whole running system.

One stack for the module: the sandbox, one listener, three Celery worker
processes and SmartFriend (``tasks.smartfriend:bot``). Each test uses chats
of its own, so the tests share the stack without resetting anything.
"""

from __future__ import annotations

import pytest

from devtools.processes import wait_for
from tests.support.stack import BOT_ID, JANE_ID, JOHN_ID, Stack, mention, timed

GREETING = "Hi John, Nice to meet you! How can I help you?"
FLIGHT_REQUEST = (  # the seed's own words, en dash and odd spacing included
    "Hi SmartFriend! Please book me a flight New York \N{EN DASH} San Francisco "
    "05/  06/17, ID #5674028947"
)
#: The offline provider's booking of the seed's request (the unit tests' golden values).
BOOKING = (
    "Absolutely! Your flight is booked \N{EN DASH} AS2270 06MAY JFK-SFO 1520 1801, "
    "ticket number 0276194114768. Have a safe trip!"
)
#: The issue's bound for each answer of the seed scenario, seconds.
ANSWER_WITHIN = 2.0


@pytest.fixture(scope="module")
def stack(start_stack: object) -> Stack:
    return start_stack(workers=3)  # type: ignore[operator, no-any-return]


def test_seed_scenario_greeting_then_booking_each_within_two_seconds(stack: Stack) -> None:
    """The seed, end to end.

    When John opens a PrivateChat with SmartFriend, the greeting arrives
    within 2 s; when he asks for the seed's flight, the booking arrives within
    2 s. The chat then holds exactly the four messages of the seed.
    """
    chat = stack.john.post(
        "/glip/groups", json={"type": "PrivateChat", "members": [{"id": BOT_ID}]}
    ).json()
    chat_id = str(chat["id"])
    texts, greeted_in = timed(lambda: stack.wait_bot_texts(chat_id, 1, ANSWER_WITHIN))
    assert texts == [GREETING]

    stack.say(stack.john, chat_id, FLIGHT_REQUEST)
    texts, booked_in = timed(lambda: stack.wait_bot_texts(chat_id, 2, ANSWER_WITHIN))
    assert texts[1] == BOOKING

    assert stack.chat_texts(chat_id) == [
        (BOT_ID, GREETING),
        (JOHN_ID, FLIGHT_REQUEST),
        (BOT_ID, BOOKING),
    ]
    print(f"greeting after {greeted_in:.2f} s, booking after {booked_in:.2f} s")


def test_the_bot_does_not_answer_its_own_posts(stack: Stack) -> None:
    """The bot's reply comes back to it as a PostAdded event, which the listener
    drops (counted, never queued), and the chat stays quiet: no reply loop."""
    jane = stack.person("jane.doe@sandbox.test")
    chat_id = str(
        jane.post("/glip/groups", json={"type": "PrivateChat", "members": [BOT_ID]}).json()["id"]
    )
    stack.wait_bot_texts(chat_id, 1, 10)  # the greeting
    stack.say(jane, chat_id, "convert 5 USD to EUR")
    stack.wait_bot_texts(chat_id, 2, 10)

    # Both of the bot's posts (greeting, answer) came back and were dropped unqueued.
    assert stack.listener is not None
    listener = stack.listener
    wait_for(lambda: _own_posts_dropped(listener.metrics()) >= 2, 10)
    own = {"group_id": chat_id, "event_type": "PostAdded", "replies": 0}
    assert stack.log_events("event_handled", **own) == []
    assert [who for who, _ in stack.chat_texts(chat_id, jane)] == [BOT_ID, JANE_ID, BOT_ID]
    assert len(stack.bot_texts(chat_id)) == 2


def test_in_a_team_of_three_the_bot_answers_only_when_mentioned(stack: Stack) -> None:
    """In John's Team with SmartFriend and Jane, a message without the mention
    is handled and ignored; the same request with ``![:Person](bot)`` is answered."""
    team = stack.john.post(
        "/glip/groups",
        json={"type": "Team", "name": "Trip planning", "members": [BOT_ID, JANE_ID]},
    ).json()
    team_id = str(team["id"])
    greeting = stack.wait_bot_texts(team_id, 1, 10)
    assert greeting == ["Hi John and Jane, Nice to meet you! How can I help you?"]

    unmentioned = stack.say(stack.john, team_id, "convert 7 USD to EUR")
    stack.wait_log("event_handled", group_id=team_id, event_type="PostAdded", replies=0)
    assert stack.bot_texts(team_id) == greeting, "answered without being mentioned"

    stack.say(stack.john, team_id, f"{mention(BOT_ID)} convert 7 USD to EUR")
    answer = stack.wait_bot_texts(team_id, 2, 10)[1]
    assert answer.startswith("7.00 USD = ")
    assert unmentioned["text"] not in stack.bot_texts(team_id)


def test_replies_keep_the_order_of_the_messages_with_three_workers(stack: Stack) -> None:
    """John sends ten conversions in a row into one chat; three workers answer
    them concurrently, and the answers appear in the order of his messages."""
    team_id = str(
        stack.john.post(
            "/glip/groups", json={"type": "Team", "name": "Money", "members": [BOT_ID]}
        ).json()["id"]
    )
    stack.wait_bot_texts(team_id, 1, 10)  # the greeting
    amounts = list(range(1, 11))
    for amount in amounts:
        stack.say(stack.john, team_id, f"convert {amount} USD to EUR")

    answers = stack.wait_bot_texts(team_id, 1 + len(amounts), 30)[1:]
    assert [a.split(" ", 1)[0] for a in answers] == [f"{n}.00" for n in amounts]
    # The order is at stake when more than one worker handled the chat's events. Which
    # worker posts is not: the reply a post makes due is handed to the worker that
    # posted (worker.replies, HANDOVER_BUDGET), so one worker may post them all.
    handled_by = [
        w.name
        for w in stack.workers
        if any(
            line.get("event") == "event_handled" and line.get("group_id") == team_id
            for line in w.json_lines()
        )
    ]
    assert len(handled_by) >= 2, f"only {handled_by} handled: the order was never at stake"


def test_john_editing_and_deleting_his_post_reaches_the_workers_unanswered(stack: Stack) -> None:
    """In John's Team with the bot, his question is answered once. When he then
    edits it (PATCH) and deletes it, the workers handle PostChanged and
    PostRemoved with no reply, and the bot posts nothing more: the chat keeps
    the greeting and the first answer only."""
    # A Team of two of its own (John's PrivateChat with the bot belongs to the seed test).
    team = stack.john.post(
        "/glip/groups", json={"type": "Team", "name": "Edits", "members": [BOT_ID]}
    )
    chat_id = str(team.json()["id"])
    [greeting] = stack.wait_bot_texts(chat_id, 1, 10)
    question = stack.say(stack.john, chat_id, "convert 3 USD to EUR")
    answer = stack.wait_bot_texts(chat_id, 2, 10)[1]
    assert answer.startswith("3.00 USD = ")

    url = f"/glip/chats/{chat_id}/posts/{question['id']}"
    edited = stack.john.patch(url, json={"text": "convert 9 USD to EUR"})
    assert edited.status_code == 200, edited.text
    stack.wait_log("event_handled", group_id=chat_id, event_type="PostChanged", replies=0)
    assert stack.john.delete(url).status_code == 204
    stack.wait_log("event_handled", group_id=chat_id, event_type="PostRemoved", replies=0)

    assert stack.bot_texts(chat_id) == [greeting, answer]
    assert stack.chat_texts(chat_id) == [(BOT_ID, greeting), (BOT_ID, answer)]


def _own_posts_dropped(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith("glipbot_listener_own_posts_dropped_total "):
            return float(line.split()[1])
    return 0.0
