"""Celery task messages, built without sending them: one builder for the listener and workers.

The listener enqueues ``handle_event`` and the workers ``post_reply`` through
Redis scripts that push a message only under their conditions (the lease,
de-duplication, the ledger of work in flight), so both need the exact bytes
Celery would push, without pushing them. :class:`TaskMessages` makes them.

**The reference** is Celery's and kombu's own code, as ``apply_async`` runs
it (:meth:`TaskMessages.reference`): ``app.amqp.create_task_message``,
kombu's serializer, the Redis channel's ``prepare_message`` and
``basic_publish``, whose final ``LPUSH`` is collected (kombu's
``_publish_batch`` hook) instead of written.

**The template.** That costs about 175 µs a message, most of it in code that
does the same work each time. So the first message of each task and queue
is built by the reference, and the others from a template made of it: only
the task id (also the root and correlation ids), the delivery tag, the
reply-to of the calling thread, the arguments and their reprs change, each
set as Celery sets it. The template is checked when it is made: a sample
built both ways must decode to the same message, or the reference builds
every message of that task (logged once). A kombu or Celery upgrade that
changes the format therefore costs speed, never correctness; the format
tests (``tests/integration/listener/test_listener_celery_format.py``,
``tests/unit/worker/test_messages.py``) compare with ``send_task``'s.

:func:`task_arguments` reads the arguments back out of a message (the
reaper, when it gives a message up as a dead letter).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from celery import Celery
from celery.utils.saferepr import saferepr
from kombu.entity import DELIVERY_MODES, PERSISTENT_DELIVERY_MODE
from kombu.serialization import dumps as serialize
from kombu.utils.json import dumps as json_dumps
from kombu.utils.uuid import uuid

from glipbot import log_events as ev
from glipbot.logging import get_logger

__all__ = ["Built", "TaskMessages", "task_arguments"]

_log = get_logger(__name__)

#: The options part of a message body (Celery's protocol 2), with no callbacks.
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
_SAMPLE = "glipbot-template-sample"


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


@dataclass(frozen=True)
class _Template:
    """A message of one task on one queue with its per-message fields left to fill."""

    queue_key: str
    content: dict[str, Any]  # body, content-encoding, content-type (body replaced)
    headers: dict[str, Any]
    properties: dict[str, Any]


class TaskMessages:
    """Builds task messages exactly as ``apply_async`` would (no I/O per message).

    Build one per process (after a pool forked): it holds a broker connection.
    """

    def __init__(self, app: Celery) -> None:
        self._app = app
        self._conn = app.connection_for_write()
        # Connecting pings Redis: the caller builds this only when Redis is up.
        self._channel = self._conn.default_channel
        mode = app.conf.task_default_delivery_mode
        self._delivery_mode = DELIVERY_MODES.get(mode, mode) or PERSISTENT_DELIVERY_MODE
        self._templates: dict[tuple[str, str], _Template | None] = {}
        # Celery's limits on the argument reprs, read once: each read of the
        # configuration costs more than the rest of a small repr.
        self._repr_levels = app.conf.task_repr_maxlevels
        self._argsrepr_maxsize = app.amqp.argsrepr_maxsize
        self._kwargsrepr_maxsize = app.amqp.kwargsrepr_maxsize
        # No arguments (handle_event's args, post_reply's kwargs): the same repr each time.
        self._no_args_repr = saferepr((), self._argsrepr_maxsize, maxlevels=self._repr_levels)
        self._no_kwargs_repr = saferepr({}, self._kwargsrepr_maxsize, maxlevels=self._repr_levels)

    @property
    def channel(self) -> Any:
        """The broker channel (to declare queues on)."""
        return self._channel

    def build(
        self,
        name: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any],
        queue: str,
        *,
        argsrepr: str | None = None,
        kwargsrepr: str | None = None,
    ) -> Built:
        """The message of task ``name(*args, **kwargs)`` on ``queue`` (``argsrepr``,
        ``kwargsrepr``: ``send_task``'s options of the same names; Celery's reprs of
        ``args`` and ``kwargs`` otherwise)."""
        key = (name, queue)
        if key not in self._templates:
            self._templates[key] = self._make_template(name, queue)
        template = self._templates[key]
        if template is None:
            return self.reference(
                name, args, kwargs, queue, argsrepr=argsrepr, kwargsrepr=kwargsrepr
            )
        return self._fill(template, uuid(), uuid(), args, kwargs, argsrepr, kwargsrepr)

    def reference(
        self,
        name: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any],
        queue: str,
        *,
        argsrepr: str | None = None,
        kwargsrepr: str | None = None,
        task_id: str | None = None,
    ) -> Built:
        """The message built by Celery's and kombu's own code, as ``apply_async`` builds it."""
        app = self._app
        task_id = task_id or uuid()
        headers, properties, body, _ = app.amqp.create_task_message(
            task_id,
            name,
            tuple(args),
            kwargs,
            reply_to=app.thread_oid,
            create_sent_event=app.conf.task_send_sent_event,
            ignore_result=None,
            argsrepr=argsrepr,
            kwargsrepr=kwargsrepr,
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

    def uses_template(self, name: str, queue: str) -> bool:
        """Whether messages of ``name`` on ``queue`` come from a checked template."""
        return self._templates.get((name, queue)) is not None

    def close(self) -> None:
        """Release the broker connection."""
        self._conn.release()

    # -- the template ------------------------------------------------------------

    def _make_template(self, name: str, queue: str) -> _Template | None:
        sample_args, sample_kwargs = (_SAMPLE,), {"sample": _SAMPLE}
        reference = self.reference(name, sample_args, sample_kwargs, queue)
        message = json.loads(reference.payload)
        template = _Template(
            queue_key=reference.queue_key,
            content={k: v for k, v in message.items() if k not in ("headers", "properties")},
            headers=message["headers"],
            properties=message["properties"],
        )
        tag = message["properties"]["delivery_tag"]
        filled = self._fill(
            template, reference.task_id, tag, sample_args, sample_kwargs, None, None
        )
        if json.loads(filled.payload) != message or filled.queue_key != reference.queue_key:
            _log.warning(ev.MESSAGE_TEMPLATE_MISMATCH, task=name, queue=queue)
            return None
        return template

    def _fill(
        self,
        template: _Template,
        task_id: str,
        delivery_tag: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any],
        argsrepr: str | None,
        kwargsrepr: str | None,
    ) -> Built:
        args = tuple(args)
        levels = self._repr_levels
        if argsrepr is None:
            argsrepr = (
                saferepr(args, self._argsrepr_maxsize, maxlevels=levels)
                if args
                else self._no_args_repr
            )
        if kwargsrepr is None:
            kwargsrepr = (
                saferepr(kwargs, self._kwargsrepr_maxsize, maxlevels=levels)
                if kwargs
                else self._no_kwargs_repr
            )
        headers = {
            **template.headers,
            "id": task_id,
            "root_id": task_id,
            "argsrepr": argsrepr,
            "kwargsrepr": kwargsrepr,
        }
        properties = {
            **template.properties,
            "correlation_id": task_id,
            "reply_to": self._app.thread_oid,
            "delivery_tag": delivery_tag,
        }
        body = json_dumps([args, kwargs, _EMBED]).encode()
        message = {
            **template.content,
            "body": base64.b64encode(body).decode(),
            "headers": headers,
            "properties": properties,
        }
        return Built(task_id, template.queue_key, json_dumps(message))


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
