"""Enqueue ``tasks.events.handle_event`` in Celery's own message format, in batches.

**The message.** Each event becomes the Celery task call
``handle_event(envelope=<the decrypted notification>)`` on the queue
``events`` (names and arguments from :mod:`glipbot.contracts`): protocol 2,
JSON, args ``()``, kwargs ``{"envelope": {...}}``. It is built by Celery and kombu's own
code, exactly as ``app.send_task(HANDLE_EVENT, kwargs=..., queue="events")``
builds it: ``app.amqp.create_task_message`` (headers, properties, body),
kombu's serializer, ``channel.prepare_message`` and the Redis channel's
``basic_publish`` (base64 body, delivery tag, delivery info, priority queue
key, final JSON). Only the last step differs: the channel hands its final
``LPUSH`` to a collector (kombu 5.7's ``_publish_batch`` hook, the same one
``Producer.batch()`` uses) instead of writing it.

**The write.** Every collected message goes through one Redis script per
event (:data:`glipbot.contracts.chat_order.ENQUEUE_SCRIPT`, which owns the
protocol), all events of a batch in one pipeline (one round trip). The script is
atomic: it refuses to write unless the lease still holds this reign's value
(fencing), sets the de-duplication key and ``LPUSH``es the message only if
the key was new. So a crash can never leave an event marked as seen but not
enqueued, and a deposed leader cannot enqueue at all.

A test (``tests/integration/listener/test_listener_celery_format.py``) proves that a
real ``celery worker -Q events`` consumes these messages and that they decode
like ``send_task``'s field by field.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.entity import DELIVERY_MODES, PERSISTENT_DELIVERY_MODE
from kombu.serialization import dumps as serialize
from kombu.utils.uuid import uuid

from glipbot.contracts import EVENTS_QUEUE, HANDLE_EVENT, handle_event_kwargs

# KEYS: lease, timetoken key. ARGV: lease value, timetoken. Never moves the cursor back.
SAVE_TIMETOKEN_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local old = redis.call('GET', KEYS[2])
if old and (#old > #ARGV[2] or (#old == #ARGV[2] and old >= ARGV[2])) then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
"""


class _Collector:
    """Receives the Redis channel's final commands instead of a pipeline."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, tuple[Any, ...]]] = []

    def add(self, name: str, *args: Any) -> None:
        self.commands.append((name, args))


def make_celery_app(broker_url: str) -> Celery:
    """A bare Celery app for building messages; it never imports ``tasks``.

    Broker transport options that change key names (``global_keyprefix``,
    ``priority_steps``, ``sep``) must match the workers' app; pass that app
    to :class:`CeleryMessages` instead when they are customised.
    """
    return Celery("listener", broker=broker_url, set_as_current=False)


class CeleryMessages:
    """Builds ``handle_event`` messages exactly as ``send_task`` would (no I/O per message)."""

    def __init__(self, app: Celery) -> None:
        self._app = app
        self._conn = app.connection_for_write()
        # Connecting pings Redis: the caller builds this only when Redis is up.
        self._channel = self._conn.default_channel
        self._queue = app.amqp.queues[EVENTS_QUEUE]
        mode = app.conf.task_default_delivery_mode
        self._delivery_mode = DELIVERY_MODES.get(mode, mode) or PERSISTENT_DELIVERY_MODE

    def declare_queue(self) -> None:
        """Declare ``events`` as ``send_task`` does (the ``_kombu.binding.events`` set).

        The worker consumes by ``BRPOP`` on the list and the message is routed
        through the anonymous exchange, so the binding is not needed for
        delivery; declaring keeps the broker's state what Celery tools expect.
        """
        self._queue(self._channel).declare()

    @staticmethod
    def kwargsrepr(envelope: dict[str, Any]) -> str:
        """The short ``kwargsrepr`` header (``send_task``'s option of the same name).

        Celery's default is ``saferepr`` of the whole envelope: half the cost of
        building a message, and it copies the post's text into a header that
        worker logs and Flower show. The uuid and the event type identify it.
        """
        body = envelope.get("body")
        event_type = body.get("eventType") if isinstance(body, dict) else None
        return repr({"envelope": f"<{envelope.get('uuid')} {event_type}>"})

    def build(self, envelope: dict[str, Any]) -> tuple[str, str, str]:
        """Return ``(task_id, list key, serialized message)`` for one event."""
        app = self._app
        task_id = uuid()
        headers, properties, body, _ = app.amqp.create_task_message(
            task_id,
            HANDLE_EVENT,
            (),
            handle_event_kwargs(envelope),
            reply_to=app.thread_oid,
            create_sent_event=app.conf.task_send_sent_event,
            ignore_result=None,
            kwargsrepr=self.kwargsrepr(envelope),
        )
        content_type, content_encoding, data = serialize(body, serializer=app.conf.task_serializer)
        properties = {**properties, "delivery_mode": self._delivery_mode}
        message = self._channel.prepare_message(
            data, 0, content_type, content_encoding, headers, properties
        )
        collector = _Collector()
        self._channel.basic_publish(
            message, exchange="", routing_key=EVENTS_QUEUE, _publish_batch=collector
        )
        if len(collector.commands) != 1 or collector.commands[0][0] != "lpush":
            # A kombu without the batch hook would have written the message itself.
            raise RuntimeError(f"unexpected kombu publish commands: {collector.commands!r}")
        key, payload = collector.commands[0][1]
        return task_id, str(key), payload

    def close(self) -> None:
        """Release the kombu connection."""
        self._conn.release()
