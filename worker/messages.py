"""Celery task messages built without sending them, so the ledger can send (and re-send) them.

A reply is registered in the ledger and pushed onto its queue in one Redis
script (:meth:`glipbot.contracts.ledger.Ledger.register`), which needs the
exact bytes Celery would push. :class:`TaskMessages` builds them with
Celery's and kombu's own code, as ``apply_async`` does
(``app.amqp.create_task_message``, kombu's serializer, the Redis channel's
``prepare_message`` and ``basic_publish``), and collects the final ``LPUSH``
instead of writing it (kombu's ``_publish_batch`` hook). The listener builds
``handle_event`` messages the same way (``listener/enqueue.py``).

:func:`task_arguments` reads the arguments back out of such a message, for
the reaper when it gives a message up as a dead letter.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from celery import Celery
from kombu.entity import DELIVERY_MODES, PERSISTENT_DELIVERY_MODE
from kombu.serialization import dumps as serialize
from kombu.utils.uuid import uuid


@dataclass(frozen=True)
class Built:
    """One message: its task id, the Redis list it goes onto, and its bytes as kombu writes them."""

    task_id: str
    queue_key: str
    payload: str


class _Collector:
    """Receives the Redis channel's final commands instead of a pipeline."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, tuple[Any, ...]]] = []

    def add(self, name: str, *args: Any) -> None:
        self.commands.append((name, args))


class TaskMessages:
    """Builds task messages exactly as ``apply_async`` would (no I/O per message).

    Build one per process, after the pool forked: it holds a broker connection.
    """

    def __init__(self, app: Celery) -> None:
        self._app = app
        self._conn = app.connection_for_write()
        self._channel = self._conn.default_channel
        mode = app.conf.task_default_delivery_mode
        self._delivery_mode = DELIVERY_MODES.get(mode, mode) or PERSISTENT_DELIVERY_MODE

    def build(
        self, name: str, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any], queue: str
    ) -> Built:
        """The message of task ``name(*args, **kwargs)`` on ``queue``."""
        app = self._app
        task_id = uuid()
        headers, properties, body, _ = app.amqp.create_task_message(
            task_id,
            name,
            tuple(args),
            kwargs,
            reply_to=app.thread_oid,
            create_sent_event=app.conf.task_send_sent_event,
            ignore_result=None,
        )
        content_type, content_encoding, data = serialize(body, serializer=app.conf.task_serializer)
        properties = {**properties, "delivery_mode": self._delivery_mode}
        message = self._channel.prepare_message(
            data, 0, content_type, content_encoding, headers, properties
        )
        collector = _Collector()
        self._channel.basic_publish(
            message, exchange="", routing_key=queue, _publish_batch=collector
        )
        if len(collector.commands) != 1 or collector.commands[0][0] != "lpush":
            # A kombu without the batch hook would have written the message itself.
            raise RuntimeError(f"unexpected kombu publish commands: {collector.commands!r}")
        key, payload = collector.commands[0][1]
        return Built(task_id, str(key), str(payload))

    def close(self) -> None:
        """Release the broker connection."""
        self._conn.release()


def task_arguments(payload: str | bytes) -> tuple[list[Any], dict[str, Any]]:
    """The ``args`` and ``kwargs`` of a task message as it lies on a queue.

    Raises ``ValueError`` when the payload is not a JSON task message of
    Celery's protocol 2 with a base64 body.
    """
    try:
        message = json.loads(payload)
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args, kwargs, _embed = json.loads(body)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a Celery task message: {type(exc).__name__}: {exc}") from exc
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ValueError("not a Celery task message: args and kwargs of the wrong type")
    return args, kwargs
