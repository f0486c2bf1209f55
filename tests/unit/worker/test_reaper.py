"""worker.reaper: lost work comes back, work lost for good is kept, stuck chats go on in order.

The reaper's decisions over real Redis with a clock the test moves; the
messages on the queues are what a worker would take.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import redis

from glipbot.bot import Reply
from glipbot.contracts.chat_order import ENQUEUE_SCRIPT, RELEASE_GRACE, enqueue_call
from glipbot.contracts.ledger import MAX_REAPS, PROGRESS_BOUND, event_entry
from glipbot.contracts.messages import Built
from glipbot.errors import DeadLetteredError
from glipbot.state.counters import Counters
from glipbot.state.deadletters import DeadLetters
from glipbot.state.keys import Keys
from tests.support.clock import FakeClock
from worker.reaper import Reaper
from worker.replies import Outgoing, ReplyPoster

KEYS = Keys("test:")


class NoPosts:
    """The platform, never called: nothing is watched for duplicates in these tests."""

    def create_post(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError("no post expected")

    def list_posts(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError("no read expected")

    def delete_post(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("no delete expected")


class Harness:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self.clock = FakeClock()
        self.poster = ReplyPoster(NoPosts(), client, KEYS, lambda: "bot", clock=self.clock)
        self.dead = DeadLetters(client, KEYS.dead_letters)
        self.counters = Counters(client, KEYS.counters)
        self.given_up: list[tuple[str, Exception, int, dict[str, Any]]] = []
        self.reaper = Reaper(
            client,
            KEYS,
            self.poster.ledger,
            self.poster.turns,
            self.poster.duplicates,
            self.dead,
            self.counters,
            {"event": self._give_up("event"), "reply": self._give_up("reply")},
        )
        client.set(KEYS.listener_lease, "L")

    def _give_up(self, kind: str) -> Any:
        def give_up(error: Exception, attempts: int, arguments: dict[str, Any]) -> Any:
            self.given_up.append((kind, error, attempts, arguments))
            return DeadLetteredError(str(error))

        return give_up

    def enqueue_event(self, uuid: str, chat: str = "g", message: str | None = None) -> None:
        """The listener enqueues an event (as its ingest does)."""
        args = enqueue_call(
            KEYS,
            lease_value="L",
            event_id=uuid,
            chat=chat,
            queue_key="events",
            message=message or f"message {uuid}",
            task_id=f"task-{uuid}",
            dedup_ttl=3600,
            now=self.clock.now,
        )
        self.redis.eval(ENQUEUE_SCRIPT, len(args["keys"]), *args["keys"], *args["args"])

    def later(self, seconds: float) -> None:
        self.clock.now += seconds


@pytest.fixture
def h(redis_client: redis.Redis) -> Harness:
    return Harness(redis_client)


def _celery_message(args: list[Any], kwargs: dict[str, Any]) -> str:
    """A task message as kombu lays it on a queue (base64 body of protocol 2)."""
    body = base64.b64encode(json.dumps([args, kwargs, {}]).encode()).decode()
    return json.dumps({"body": body, "properties": {"body_encoding": "base64"}, "headers": {}})


def test_an_event_lost_between_brpop_and_unacked_is_sent_again_after_its_deadline(
    h: Harness,
) -> None:
    h.enqueue_event("u1")
    h.redis.rpop("events")  # a worker popped it and died before kombu recorded it

    assert h.reaper.run()["resent"] == {"event": 0, "reply": 0}  # not overdue yet
    h.later(PROGRESS_BOUND)
    report = h.reaper.run()

    assert report["resent"] == {"event": 1, "reply": 0}
    assert h.redis.lrange("events", 0, -1) == ["message u1"]
    assert h.counters.all()["events_reaped"] == 1


def test_a_reply_lost_on_its_way_is_sent_again_and_counted(h: Harness) -> None:
    out = Outgoing(Reply("evt-1:0", "g", "answer"))
    h.poster.enqueue(out, Built("t1", "replies", "reply message"))
    h.redis.rpop("replies")
    h.later(PROGRESS_BOUND)

    report = h.reaper.run()

    assert report["resent"] == {"event": 0, "reply": 1}
    assert h.redis.lrange("replies", 0, -1) == ["reply message"]
    assert h.counters.all()["replies_reaped"] == 1


def test_an_event_waiting_on_its_queue_is_not_sent_again(h: Harness) -> None:
    h.enqueue_event("u1")
    h.later(PROGRESS_BOUND)

    report = h.reaper.run()

    assert (report["resent"]["event"], report["waiting_on_queue"]) == (0, 1)
    assert h.redis.llen("events") == 1


def test_work_lost_every_time_is_dead_lettered_by_its_tasks_give_up_and_forgotten(
    h: Harness,
) -> None:
    envelope = {"uuid": "u1", "body": {"groupId": "g"}}
    h.enqueue_event("u1", message=_celery_message([], {"envelope": envelope}))
    for _ in range(MAX_REAPS + 1):
        h.redis.delete("events")  # taken, and the worker died each time
        h.later(PROGRESS_BOUND)
        h.reaper.run()

    [(kind, error, attempts, arguments)] = h.given_up
    assert (kind, attempts, arguments) == ("event", MAX_REAPS, {"envelope": envelope, "seq": None})
    assert "lost in flight" in str(error)
    assert h.poster.ledger.entry(event_entry("u1")) is None
    assert h.counters.all()["events_reaped"] == MAX_REAPS


def test_an_unreadable_message_lost_every_time_is_kept_as_a_dead_letter(h: Harness) -> None:
    h.enqueue_event("u1", message="not a celery message")
    for _ in range(MAX_REAPS + 1):
        h.redis.delete("events")
        h.later(PROGRESS_BOUND)
        h.reaper.run()

    [letter] = h.dead.list()
    assert (letter["source"], letter["payload"]) == ("ledger", "not a celery message")
    assert h.given_up == []


def test_replies_behind_an_event_that_is_gone_are_released_in_order_with_a_dead_letter(
    h: Harness,
) -> None:
    """Event 1 was lost before the ledger existed; events 2 and 3 were handled
    and their replies parked. The reaper releases event 1 (counted, kept as a
    dead letter), which sends event 2's reply only."""
    turns = h.poster.turns
    for seq in (2, 3):
        turns.handled("g", seq, 1)
        out = Outgoing(Reply(f"evt-{seq}:0", "g", f"answer {seq}"), seq)
        h.poster.enqueue(out, Built(f"t{seq}", "replies", f"reply message {seq}"))
    h.redis.delete("replies")
    for seq in (3, 2):
        assert h.poster.deliver(Outgoing(Reply(f"evt-{seq}:0", "g", f"answer {seq}"), seq)) is None

    h.later(RELEASE_GRACE)
    report = h.reaper.run()

    assert report["released"] == 1
    assert h.redis.lrange("replies", 0, -1) == ["reply message 2"]
    [letter] = h.dead.list()
    assert letter["source"] == "chat_order"
    assert letter["payload"] == {"group_id": "g", "seq": 1, "index": None, "entry": None}
    assert "released in order" in letter["reason"]
    assert h.counters.all()["chat_order_released"] == 1


def test_a_parked_reply_is_left_to_its_chat(h: Harness) -> None:
    """Parked replies have no deadline: only the chat sends them again."""
    h.enqueue_event("u1")  # event 1, in flight
    h.poster.turns.handled("g", 2, 1)
    out = Outgoing(Reply("evt-2:0", "g", "answer 2"), 2)
    h.poster.enqueue(out, Built("t2", "replies", "reply message 2"))
    h.redis.delete("replies")
    h.poster.deliver(out)
    h.later(10 * PROGRESS_BOUND)
    h.redis.delete("events")

    report = h.reaper.run()

    assert report["resent"] == {"event": 1, "reply": 0}
    assert h.redis.llen("replies") == 0
    assert report["released"] == 0  # event 1 is in flight, so its chat waits


def test_a_second_run_while_one_holds_the_lock_does_nothing(h: Harness) -> None:
    h.enqueue_event("u1")
    h.redis.rpop("events")
    h.later(PROGRESS_BOUND)
    h.redis.set(KEYS.reaper_lock, "another run")

    assert h.reaper.run() == {"skipped": "another reaper run holds the lock"}
    assert h.redis.llen("events") == 0
