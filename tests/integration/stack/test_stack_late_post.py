"""A POST the platform completes after the worker gave up on it shows in the chat once.

One stack for the module: the sandbox, one listener, two workers whose HTTP
timeout is 3 s (so their settle window is 6 s) and beat, whose reaper deletes
late duplicates. The sandbox's fault "hang without a status" holds the bot's
``POST /glip/posts`` for a while and then makes the post: the worker has
timed out by then, so the post lands after the client gave up on it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.stack.stack_programs import start_beat
from tests.support.stack import BOT_ID, POSTS, Stack
from worker.replies import settle_window

HTTP_TIMEOUT = 3.0
SETTLE = settle_window(HTTP_TIMEOUT)


@pytest.fixture(scope="module")
def stack(start_stack: Any) -> Stack:
    started: Stack = start_stack(workers=2, env={"RINGCENTRAL_HTTP_TIMEOUT": f"{HTTP_TIMEOUT:g}"})
    start_beat(started)
    return started


def _new_chat(stack: Stack, name: str) -> str:
    team = stack.john.post("/glip/groups", json={"type": "Team", "name": name, "members": [BOT_ID]})
    chat_id = str(team.json()["id"])
    stack.wait_bot_texts(chat_id, 1, 10)  # the greeting went out before any fault
    return chat_id


def _ask_with_the_answer_landing_late(stack: Stack, chat_id: str, text: str, hang: float) -> None:
    """John asks; the bot's next POST is made by the sandbox ``hang`` seconds after it arrived."""
    control = stack.sandbox.control
    control.pause_pubnub()  # John's own post must not meet the fault
    try:
        stack.say(stack.john, chat_id, text)
        control.fail("POST", POSTS, count=1, hang=hang)
    finally:
        control.resume_pubnub()


def _answers(stack: Stack, chat_id: str, amount: int) -> list[str]:
    """The ids of the bot's answers to ``amount`` that the chat shows."""
    prefix = f"{amount}.00 USD = "
    resp = stack.john.get("/glip/posts", params={"groupId": chat_id, "recordCount": 250})
    resp.raise_for_status()
    return [
        str(p["id"])
        for p in resp.json()["records"]
        if p["creatorId"] == BOT_ID and p["text"].startswith(prefix)
    ]


def _posts_made(stack: Stack, chat_id: str, amount: int) -> list[dict[str, Any]]:
    prefix = f"{amount}.00 USD = "
    return [r for r in stack.bot_posts(chat_id) if r["body"]["text"].startswith(prefix)]


def test_a_post_landing_within_the_settle_window_is_found_and_never_made_twice(
    stack: Stack,
) -> None:
    """The post lands 2 s after the worker's timeout, inside the 6 s window:
    the retry waits the window out, finds the post and claims it."""
    chat_id = _new_chat(stack, "Late within the window")
    _ask_with_the_answer_landing_late(stack, chat_id, "convert 401 USD to EUR", HTTP_TIMEOUT + 2)

    settling = stack.wait_log("reply_settling", group_id=chat_id, timeout=30)
    posted = stack.wait_log("reply_posted", reply_key=settling["reply_key"], timeout=30)

    assert len(_answers(stack, chat_id, 401)) == 1
    assert len(_posts_made(stack, chat_id, 401)) == 1  # the late POST, and no second one
    assert stack.log_events("reply_reconciled", reply_key=settling["reply_key"])
    assert posted["post_id"] == _answers(stack, chat_id, 401)[0]


def test_a_post_landing_after_the_window_is_deleted_so_the_chat_shows_one(stack: Stack) -> None:
    """The post lands 6 s after the window: the worker posted again at its end;
    the late one then lands, owned by no reply, and the reaper deletes it."""
    chat_id = _new_chat(stack, "Late after the window")
    _ask_with_the_answer_landing_late(stack, chat_id, "convert 402 USD to EUR", SETTLE + 6)

    deleted = stack.wait_log("reply_duplicate_deleted", group_id=chat_id, timeout=60)

    assert len(_posts_made(stack, chat_id, 402)) == 2  # the retry's, and the late one
    kept = stack.redis.hget(f"glipbot:reply:{deleted['reply_key']}", "post_id")
    assert _answers(stack, chat_id, 402) == [kept]
    assert deleted["post_id"] != kept
    removals = stack.sandbox.control.requests(path=f"/restapi/v1.0/glip/chats/{chat_id}/posts/*")
    assert [(r["method"], r["status"]) for r in removals] == [("DELETE", 204)]
    assert int(stack.redis.hget("glipbot:counters", "replies_duplicate_deleted") or 0) >= 1
