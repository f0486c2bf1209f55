"""Every reply arrives exactly once, whatever the platform answers and whoever dies.

One stack for the module: the sandbox, one listener and two workers whose
HTTP timeout is 3 s (so the sandbox can hang longer than a worker waits).
Each test opens a chat of its own (a Team of John and SmartFriend, where
the bot answers without being mentioned) and asks for a conversion while
the sandbox answers the bot's ``POST /glip/posts`` with a fault.

John's own post must not meet the fault, so PubNub delivery is paused
while he writes and the fault is set: the bot sees his message only after.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime
from typing import Any

import pytest

from devtools.processes import wait_for
from tests.support.stack import BOT_ID, POSTS, Stack

HTTP_TIMEOUT = 3.0


@pytest.fixture(scope="module")
def stack(start_stack: object) -> Stack:
    return start_stack(  # type: ignore[operator, no-any-return]
        workers=2, env={"RINGCENTRAL_HTTP_TIMEOUT": f"{HTTP_TIMEOUT:g}"}
    )


def _new_chat(stack: Stack, name: str) -> str:
    team = stack.john.post("/glip/groups", json={"type": "Team", "name": name, "members": [BOT_ID]})
    chat_id = str(team.json()["id"])
    stack.wait_bot_texts(chat_id, 1, 10)  # the greeting went out before any fault
    return chat_id


def _ask_under_fault(stack: Stack, chat_id: str, text: str, **fault: Any) -> None:
    """John asks; the bot's next POST /glip/posts meets ``fault``."""
    control = stack.sandbox.control
    control.pause_pubnub()
    try:
        stack.say(stack.john, chat_id, text)
        control.fail("POST", POSTS, count=1, **fault)
    finally:
        control.resume_pubnub()


def _answer_count(stack: Stack, chat_id: str, amount: int) -> int:
    return sum(
        1
        for who, text in stack.chat_texts(chat_id)
        if who == BOT_ID and text.startswith(amount_of(amount))
    )


def amount_of(amount: int) -> str:
    return f"{amount}.00 USD = "


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


FAULTS = {
    "429 with Retry-After": {"status": 429, "retry_after": 1},
    "503 without Retry-After": {"status": 503},
    "503 with Retry-After": {"status": 503, "retry_after": 1},
    "timeout, nothing posted": {"status": 503, "hang": HTTP_TIMEOUT + 2},
    "timeout after the post was made": {"hang": HTTP_TIMEOUT + 2, "after": True},
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_the_reply_arrives_exactly_once_despite(stack: Stack, fault: dict[str, Any]) -> None:
    """The bot's first try meets the fault; it retries (after Retry-After, or
    backing off, or reconciling through GET /glip/posts after a timeout whose
    POST may have been made) and the chat ends up with the answer once."""
    amount = 100 + list(FAULTS.values()).index(fault)
    chat_id = _new_chat(stack, f"Fault {amount}")
    _ask_under_fault(stack, chat_id, f"convert {amount} USD to EUR", **fault)

    answer = stack.wait_bot_texts(chat_id, 2, 20)[1]
    assert answer.startswith(amount_of(amount))
    stack.wait_log("reply_posted", group_id=chat_id, timeout=10)  # the task is finished
    assert _answer_count(stack, chat_id, amount) == 1
    # The fault met the first try: handle_event's own (which then queued the reply for
    # post_reply) or, when the reply had to wait for its turn, post_reply's (a retry).
    tried = [
        *stack.log_events("reply_deferred", group_id=chat_id),
        *stack.log_events("reply_retry", group_id=chat_id),
    ]
    assert len(tried) == 1, tried
    if fault.get("after"):
        assert stack.log_events("reply_reconciled", reply_key=tried[0]["reply_key"])


def test_a_429_without_retry_after_waits_30_seconds_then_the_reply_arrives_once(
    stack: Stack,
) -> None:
    """A 429 with no Retry-After means "wait 30 s" by the platform's contract:
    the workers pause the group for 30 s, then the reply is posted once."""
    chat_id = _new_chat(stack, "Fault 429 bare")
    _ask_under_fault(stack, chat_id, "convert 200 USD to EUR", status=429)

    stack.wait_bot_texts(chat_id, 2, 45)
    stack.wait_log("reply_posted", group_id=chat_id, timeout=10)
    tries = [
        r
        for r in stack.sandbox.control.requests(path=POSTS, method="POST")
        if r["who"] == BOT_ID and r["body"]["groupId"] == chat_id
    ]
    assert [r["status"] for r in tries] == [200, 429, 200]  # greeting, refused, answer
    waited = _epoch(tries[2]["time"]) - _epoch(tries[1]["time"])
    assert 30 <= waited <= 33, waited
    assert _answer_count(stack, chat_id, 200) == 1


def test_a_worker_killed_right_after_its_post_leaves_exactly_one_reply(stack: Stack) -> None:
    """The POST reaches the platform (which then hangs before answering); the
    pool process that made it is killed with SIGKILL. Celery requeues the task
    (``task_reject_on_worker_lost``), another process finds the reply pending,
    reconciles it through GET /glip/posts instead of posting again, and the
    chat holds the answer once.

    The pool child is killed, not the worker's main process: the parent sees
    its child die and requeues the task at once, where killing the parent
    would leave the message to the broker's visibility timeout (15 min).
    The redelivered task waits for the dead process's reply lock to lapse
    (nobody extends it any more: worker.replies.LOCK_TTL) before it reconciles:
    that lock is what keeps two live workers from posting the same reply at
    the same moment.
    """
    control = stack.sandbox.control
    chat_id = _new_chat(stack, "Fault kill")
    _ask_under_fault(stack, chat_id, "convert 300 USD to EUR", hang=120, after=True)

    wait_for(lambda: control.faults() == [], 10, 0.01)  # the faulted POST has begun
    post_began = time.monotonic()
    active = wait_for(lambda: _posting(stack), 5, 0.01)
    os.kill(active["worker_pid"], signal.SIGKILL)
    # Killed while the POST still waited for its answer, not after it had timed out.
    assert time.monotonic() - post_began < HTTP_TIMEOUT
    assert _answer_count(stack, chat_id, 300) == 1  # the POST was made

    reconciled = stack.wait_log("reply_reconciled", timeout=60, reply_key=active["reply_key"])
    stack.wait_log("reply_posted", group_id=chat_id, timeout=10)
    assert _answer_count(stack, chat_id, 300) == 1
    assert stack.log_events("reply_retry", group_id=chat_id) == [], "no timeout before the kill"
    print(f"killed pid {active['worker_pid']}; reconciled as post {reconciled['post_id']}")


def _posting(stack: Stack) -> dict[str, Any] | None:
    """The task posting a reply now (``post_reply``, or ``handle_event`` posting its event's
    first reply itself): its pool process's pid and the reply's key."""
    names = stack.node_names()
    inspect = stack.celery.control.inspect(destination=names, timeout=1.0, limit=len(names))
    for tasks in (inspect.active() or {}).values():
        for task in tasks:
            if task["name"] == "tasks.replies.post_reply":
                return {"worker_pid": task["worker_pid"], "reply_key": task["args"][0]["key"]}
            if task["name"] == "tasks.events.handle_event":
                key = f"{task['kwargs']['envelope']['uuid']}:0"
                return {"worker_pid": task["worker_pid"], "reply_key": key}
    return None
