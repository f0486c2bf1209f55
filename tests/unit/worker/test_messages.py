"""Task messages (glipbot.contracts.messages) are the ones ``apply_async`` would push."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
from celery import Celery

from glipbot.bot.context import Reply
from glipbot.contracts.messages import TaskMessages, task_arguments
from tasks import replies as reply_tasks
from worker.replies import Outgoing

TASK = "tasks.replies.post_reply"
REPLY = {"key": "evt-1:0", "group_id": "g", "text": "hi", "attachments": [], "seq": 1}


@pytest.fixture
def app(redis_url: str) -> Iterator[Celery]:
    celery = Celery("messages-test", broker=redis_url, set_as_current=False)
    yield celery
    celery.close()


def test_a_built_message_is_what_apply_async_pushes(app: Celery, redis_client: redis.Redis) -> None:
    messages = TaskMessages(app)
    built = messages.build(TASK, (REPLY,), {}, "replies")
    app.send_task(TASK, args=(REPLY,), queue="replies")
    messages.close()

    sent = json.loads(redis_client.rpop("replies"))
    ours = json.loads(built.payload)

    assert built.queue_key == "replies"
    assert ours["headers"]["id"] == built.task_id
    assert ours["headers"]["task"] == sent["headers"]["task"] == TASK
    assert set(ours["headers"]) == set(sent["headers"])
    assert set(ours["properties"]) == set(sent["properties"])
    assert task_arguments(built.payload) == task_arguments(json.dumps(sent)) == ([REPLY], {})


@pytest.mark.parametrize("payload", ["not json", '{"body": "%%%"}', '{"headers": {}}'])
def test_what_is_not_a_task_message_is_refused(payload: str) -> None:
    with pytest.raises(ValueError, match="not a Celery task message"):
        task_arguments(payload)


@pytest.mark.parametrize(
    ("args", "argsrepr", "kwargsrepr"),
    [
        ((REPLY,), None, None),
        ((REPLY,), "('<reply evt-1:0>',)", "{'envelope': '<u1 PostAdded>'}"),
        ((), None, "{'envelope': '<u1 PostAdded>'}"),
    ],
)
def test_a_message_from_the_template_is_celerys_own(
    app: Celery, args: tuple[object, ...], argsrepr: str | None, kwargsrepr: str | None
) -> None:
    """Built from the checked template, a message decodes exactly like the reference's."""
    messages = TaskMessages(app)
    kwargs = {"envelope": {"uuid": "u1", "text": "h\u00e9llo \N{EN DASH} " + "x" * 2000}}
    built = messages.build(TASK, args, kwargs, "replies", argsrepr=argsrepr, kwargsrepr=kwargsrepr)
    reference = messages.reference(
        TASK,
        args,
        kwargs,
        "replies",
        argsrepr=argsrepr,
        kwargsrepr=kwargsrepr,
        task_id=built.task_id,
    )
    messages.close()

    assert messages.uses_template(TASK, "replies")
    ours, theirs = json.loads(built.payload), json.loads(reference.payload)
    assert ours["properties"].pop("delivery_tag") != theirs["properties"].pop("delivery_tag")
    assert ours == theirs
    assert built.queue_key == reference.queue_key


def test_a_reply_message_names_the_reply_not_its_text(
    app: Celery, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``post_reply``'s ``argsrepr`` (Flower's view of the argument) is the reply's key."""
    messages = TaskMessages(app)
    monkeypatch.setattr(reply_tasks, "messages", lambda: messages)
    out = Outgoing(Reply("evt-1:0", "g", "Sure, I will book you a flight"), seq=1, bot_id="b1")

    built = reply_tasks._message(out)
    messages.close()

    assert json.loads(built.payload)["headers"]["argsrepr"] == "('<reply evt-1:0>',)"
    assert task_arguments(built.payload) == ([out.to_json()], {})
