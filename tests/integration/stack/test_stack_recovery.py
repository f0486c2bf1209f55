"""What a killed worker held comes back in about a minute, answered once and in order.

One stack for the module: the sandbox, one listener, three workers and
beat, whose reaper runs every 15 s and sends again the work
whose ledger deadline (60 s without progress) has passed and that is no
longer on its queue. The tests wait for the outcome, within a generous
bound: the deadline, one reaper period, and a minute for the work itself on
a loaded machine.
"""

from __future__ import annotations

import base64
import json
import signal
from typing import Any

import pytest

from devtools.processes import wait_for
from glipbot.contracts.identity import event_id
from glipbot.contracts.ledger import PROGRESS_BOUND
from tests.integration.stack.stack_programs import start_beat, start_workers, stop_workers
from tests.support.stack import BOT_ID, POSTS, Stack
from worker.reaper import REAP_INTERVAL

#: Lost work is sent again at most this long after it last made progress...
RECOVERY = PROGRESS_BOUND + REAP_INTERVAL
#: ... and the tests allow a minute more for the work itself.
BOUND = RECOVERY + 60


@pytest.fixture(scope="module")
def stack(start_stack: Any) -> Stack:
    started: Stack = start_stack(workers=3)
    start_beat(started)
    return started


def _new_chat(stack: Stack, name: str) -> str:
    team = stack.john.post("/glip/groups", json={"type": "Team", "name": name, "members": [BOT_ID]})
    chat_id = str(team.json()["id"])
    stack.wait_bot_texts(chat_id, 1, 10)
    return chat_id


def _ask(stack: Stack, chat_id: str, amounts: list[int]) -> None:
    for amount in amounts:
        stack.say(stack.john, chat_id, f"convert {amount} USD to EUR")


def _amounts(texts: list[str]) -> list[int]:
    return [int(text.split(".", 1)[0]) for text in texts if ".00 USD = " in text]


def _posted(stack: Stack, chat_id: str) -> list[int]:
    """The amounts of the bot's answers the sandbox took so far (its recorder: no rate limit)."""
    return _amounts(stack.bot_texts(chat_id))


def _settled(stack: Stack, chat_id: str, count: int) -> list[int]:
    """Wait until ``count`` answers were posted and no work is in flight; the amounts the
    chat then shows, in its order (read once, as John)."""
    wait_for(lambda: len(_posted(stack, chat_id)) >= count, BOUND, 0.5)
    wait_for(lambda: stack.redis.hlen("glipbot:ledger:entries") == 0, BOUND, 0.5)
    return _amounts([text for who, text in stack.chat_texts(chat_id) if who == BOT_ID])


def _counter(stack: Stack, name: str) -> int:
    return int(stack.redis.hget("glipbot:counters", name) or 0)


def _event_id_of(message: str) -> str:
    """The event's identity (post id, else uuid) in a ``handle_event`` message on ``events``."""
    _args, kwargs, _embed = json.loads(base64.b64decode(json.loads(message)["body"]))
    return event_id(kwargs["envelope"])


@pytest.mark.timeout(BOUND * 3)
def test_a_whole_worker_killed_mid_post_loses_nothing_and_keeps_the_order(stack: Stack) -> None:
    """Answers 1 to 3 go out; answer 4's POST hangs (the workers' HTTP timeout
    is 15 s) while answers 5 to 12 park behind it; the worker posting it (the
    Celery parent and its pool) is killed with SIGKILL right after the workers
    were inspected. The reaper sends answer 4 again once its deadline passed;
    then all go out in order, each once."""
    control = stack.sandbox.control
    chat_id = _new_chat(stack, "Kill mid-stream")
    amounts = list(range(501, 513))
    _ask(stack, chat_id, amounts[:3])
    wait_for(lambda: len(_posted(stack, chat_id)) == 3, 30, 0.1)
    control.pause_pubnub()
    try:
        _ask(stack, chat_id, amounts[3:])
        control.fail("POST", POSTS, count=1, status=503, hang=60)  # held, then refused
    finally:
        control.resume_pubnub()

    wait_for(lambda: control.faults() == [], 30, 0.05)  # answer 4's POST has begun
    parked = f"glipbot:chat:{chat_id}:parked"
    wait_for(lambda: stack.redis.hlen(parked) == len(amounts) - 4, 30, 0.05)
    holder = wait_for(lambda: _posting(stack), 10, 0.05)  # answer 4's: the others are parked
    victim = next(w for w in stack.workers if w.pid == holder["parent"])
    victim.signal(signal.SIGKILL)
    wait_for(lambda: not victim.running(), 10, 0.05)
    reaped_before = _counter(stack, "replies_reaped")

    answered = _settled(stack, chat_id, len(amounts))

    assert answered == amounts
    assert _counter(stack, "replies_reaped") > reaped_before
    assert stack.log_events("work_reaped", entry=f"reply:{holder['reply_key']}")


def _posting(stack: Stack) -> dict[str, Any] | None:
    """The task posting a reply now (Flower inspects like this all the time): its worker's pid
    and the reply's key. ``handle_event`` posts its event's first reply itself when it can."""
    workers = [w for w in stack.workers if w.running()]
    names = stack.node_names(workers)
    inspect = stack.celery.control.inspect(destination=names, timeout=1.0, limit=len(names))
    for node, tasks in (inspect.active() or {}).items():
        for task in tasks:
            worker = next(w for w in workers if stack.node_names([w])[0] == node)
            if task["name"] == "tasks.replies.post_reply":
                return {"parent": worker.pid, "reply_key": task["args"][0]["key"]}
            if task["name"] == "tasks.events.handle_event":
                envelope = task["kwargs"]["envelope"]
                return {"parent": worker.pid, "reply_key": f"{envelope['uuid']}:0"}
    return None


@pytest.mark.timeout(BOUND * 3)
def test_an_event_lost_between_brpop_and_unacked_is_answered_once_in_order(stack: Stack) -> None:
    """Popping the event off ``events`` is exactly kombu's loss: taken by BRPOP,
    never recorded as unacked. The next question's answer waits for it; the
    reaper sends the event again; both are answered, in order, once."""
    chat_id = _new_chat(stack, "Lost event")
    stop_workers(stack)  # nobody takes anything while the test plays the dying worker
    _ask(stack, chat_id, [601, 602])
    wait_for(lambda: stack.redis.llen("events") == 2, 20, 0.05)
    lost = stack.redis.rpop("events")  # the oldest: what a worker's BRPOP takes first
    assert lost is not None
    reaped_before = _counter(stack, "events_reaped")
    start_workers(stack, ["w-event-1", "w-event-2"])

    assert _settled(stack, chat_id, 2) == [601, 602]
    assert _counter(stack, "events_reaped") > reaped_before
    assert stack.log_events("work_reaped", entry=f"event:{_event_id_of(lost)}")


@pytest.mark.timeout(BOUND * 3)
def test_a_reply_lost_between_brpop_and_unacked_is_posted_once(stack: Stack) -> None:
    """The answer cannot be posted at once (a 503): ``handle_event`` queues it, and the
    ``post_reply`` message is lost as a dying worker would lose it."""
    chat_id = _new_chat(stack, "Lost reply")
    stop_workers(stack)
    start_workers(stack, ["w-no-replies"], queues=("events", "ops"))
    control = stack.sandbox.control
    control.pause_pubnub()  # so that the fault meets the bot's POST, not John's
    try:
        _ask(stack, chat_id, [611])
        control.fail("POST", POSTS, count=1, status=503)
    finally:
        control.resume_pubnub()
    wait_for(lambda: stack.redis.llen("replies") == 1, 30, 0.05)
    assert stack.redis.rpop("replies") is not None  # lost as a dying worker would lose it
    reaped_before = _counter(stack, "replies_reaped")
    start_workers(stack, ["w-reply-1"])

    assert _settled(stack, chat_id, 1) == [611]
    assert _counter(stack, "replies_reaped") > reaped_before
