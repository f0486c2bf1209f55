"""The listener's pipelined messages are Celery's own: a real worker runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from glipbot.contracts import EVENTS_QUEUE as QUEUE
from glipbot.contracts import HANDLE_EVENT, handle_event_kwargs
from listener.enqueue import CeleryMessages
from tests.integration.listener.listener_support import ROOT, posts_in_queue, wait_for

pytestmark = pytest.mark.integration
HERE = Path(__file__).resolve().parent


@pytest.fixture
def celery_worker(redis_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """A real ``celery worker -Q events`` running the probe app."""
    env = {"PROBE_REDIS_URL": redis_url, "PYTHONPATH": f"{HERE}:{ROOT}", "PATH": ""}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "listener_probe_app",
            "worker",
            "-Q",
            QUEUE,
            "-P",
            "solo",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "warning",
        ],
        cwd=HERE,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield proc
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_a_real_celery_worker_consumes_the_listeners_messages(
    start_listener: Any,
    john_chat: tuple[Any, str],
    redis_client: redis.Redis,
    celery_worker: subprocess.Popen[bytes],
) -> None:
    john, group_id = john_chat
    start_listener("a").wait_leader()

    texts = [f"for the worker {i}" for i in range(5)]
    for text in texts:
        john.post("/glip/posts", json={"groupId": group_id, "text": text}).raise_for_status()

    def handled() -> list[dict[str, Any]]:
        return [json.loads(r) for r in redis_client.lrange("probe:handled", 0, -1)]

    wait_for(lambda: {h["text"] for h in handled()} >= set(texts), timeout=30, interval=0.2)
    posts = [h for h in handled() if h["eventType"] == "PostAdded"]
    assert sorted(h["text"] for h in posts) == sorted(texts)
    assert posts_in_queue(redis_client) == {}  # consumed, nothing left behind


def _decoded(app: Celery, raw: bytes | str) -> dict[str, Any]:
    """Decode a stored message the way the worker's kombu consumer does."""
    channel = app.connection_for_write().default_channel
    message = channel.Message(json.loads(raw), channel=channel)
    headers = dict(message.headers)
    properties = dict(message.properties)
    for volatile in ("id", "root_id"):
        headers.pop(volatile)
    headers["kwargsrepr"] = type(headers["kwargsrepr"]).__name__
    for volatile in ("correlation_id", "delivery_tag"):
        properties.pop(volatile)
    return {
        "keys": sorted(json.loads(raw)),
        "content_type": message.content_type,
        "content_encoding": message.content_encoding,
        "headers": headers,
        "properties": properties,
        "delivery_info": message.delivery_info,
        "body": message.decode(),
    }


def test_a_pipelined_message_decodes_exactly_like_send_task(redis_url: str) -> None:
    """Field by field, ignoring what differs per message (ids, delivery tag) and the
    one deliberate difference: the ``kwargsrepr`` header is short (see
    ``CeleryMessages.kwargsrepr``) instead of a repr of the whole envelope."""
    app = Celery("compare", broker=redis_url, set_as_current=False)
    client = redis.Redis.from_url(redis_url)
    envelope = {"uuid": "u-1", "event": "/restapi/v1.0/glip/posts", "body": {"text": "é"}}
    messages = CeleryMessages(app)

    _task_id, key, ours = messages.build(envelope)
    app.send_task(HANDLE_EVENT, kwargs=handle_event_kwargs(envelope), queue=QUEUE)
    theirs = client.rpop(QUEUE)
    assert isinstance(theirs, bytes)
    messages.close()

    assert key == QUEUE
    assert _decoded(app, ours) == _decoded(app, theirs)
