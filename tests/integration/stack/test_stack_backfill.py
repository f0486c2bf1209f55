"""Events the platform never delivered are recovered from its REST API, and answered once.

The subscription is deleted on the platform's side while John keeps writing:
nothing is published for those posts, so PubNub has nothing to replay. The
listener notices (its quiet-channel check), re-creates the subscription and
backfills the chat from ``GET /glip/posts``; every request is answered
exactly once, the ones from before the loss included.
"""

from __future__ import annotations

import json

import pytest

from devtools.processes import wait_for
from tests.support.stack import BOT_ID, Stack


@pytest.fixture(scope="module")
def stack(start_stack: object) -> Stack:
    return start_stack(workers=2)  # type: ignore[operator, no-any-return]


def _answers(stack: Stack, chat_id: str, amount: int) -> int:
    prefix = f"{amount}.00 USD = "
    return sum(
        1 for who, text in stack.chat_texts(chat_id) if who == BOT_ID and text.startswith(prefix)
    )


def _subscription_id(stack: Stack) -> str:
    client = stack.redis
    return str(client.get("glipbot:subscription:id"))


def _leader_metric(stack: Stack, name: str) -> float:
    client = stack.redis
    for key in client.scan_iter(match="glipbot:listener:status:*"):
        body = json.loads(client.get(key) or "{}")
        if body.get("role") == "leader":
            return float(body["metrics"].get(name) or 0)
    return 0.0


def test_posts_made_while_the_subscription_was_lost_are_answered_once(stack: Stack) -> None:
    team = stack.john.post(
        "/glip/groups", json={"type": "Team", "name": "Backfill", "members": [BOT_ID]}
    )
    chat_id = str(team.json()["id"])
    stack.wait_bot_texts(chat_id, 1, 15)  # the greeting
    before = [300, 301]
    for amount in before:
        stack.say(stack.john, chat_id, f"convert {amount} USD to EUR")
    stack.wait_bot_texts(chat_id, 1 + len(before), 20)

    lost = _subscription_id(stack)
    stack.sandbox.control.delete_subscription(lost)
    during = [310, 311, 312, 313, 314]
    for amount in during:
        stack.say(stack.john, chat_id, f"convert {amount} USD to EUR")

    stack.wait_bot_texts(chat_id, 1 + len(before) + len(during), 90)
    wait_for(lambda: _leader_metric(stack, "backfill_runs") >= 1, timeout=30)

    assert _subscription_id(stack) != lost
    answered = {amount: _answers(stack, chat_id, amount) for amount in before + during}
    assert answered == dict.fromkeys(before + during, 1)
