"""A test-only Celery app: ``tasks.events.handle_event`` records what it received in Redis.

Started by the Celery-format test as a real ``celery worker -Q events``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import redis
from celery import Celery

app = Celery("probe", broker=os.environ["PROBE_REDIS_URL"])
app.conf.worker_hijack_root_logger = False
_redis = redis.Redis.from_url(os.environ["PROBE_REDIS_URL"])

#: The Redis list each handled call is appended to.
HANDLED = "probe:handled"


@app.task(name="tasks.events.handle_event")
def handle_event(envelope: dict[str, Any]) -> None:
    """Record the call: the envelope's uuid, event type and text."""
    record = {
        "uuid": envelope["uuid"],
        "eventType": envelope["body"]["eventType"],
        "text": envelope["body"].get("text"),
    }
    _redis.rpush(HANDLED, json.dumps(record))
