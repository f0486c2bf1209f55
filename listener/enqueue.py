"""Enqueue ``tasks.events.handle_event`` in Celery's own message format, in batches.

**The message.** Each event becomes the Celery task call
``handle_event(envelope=<the decrypted notification>)`` on the queue
``events`` (names and arguments from :mod:`glipbot.contracts`): protocol 2,
JSON, args ``()``, kwargs ``{"envelope": {...}}``, exactly as
``app.send_task(HANDLE_EVENT, kwargs=..., queue="events")`` builds it, with
a short ``kwargsrepr``. :class:`glipbot.contracts.messages.TaskMessages`
builds it (from a template checked against Celery's own code), as it
builds the workers' ``post_reply`` messages.

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

from glipbot.contracts import EVENTS_QUEUE, HANDLE_EVENT, handle_event_kwargs
from glipbot.contracts.messages import TaskMessages

# KEYS: lease, timetoken key. ARGV: lease value, timetoken. Never moves the cursor back.
SAVE_TIMETOKEN_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local old = redis.call('GET', KEYS[2])
if old and (#old > #ARGV[2] or (#old == #ARGV[2] and old >= ARGV[2])) then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
"""


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
        self._messages = TaskMessages(app)

    def declare_queue(self) -> None:
        """Declare ``events`` as ``send_task`` does (the ``_kombu.binding.events`` set).

        The worker consumes by ``BRPOP`` on the list and the message is routed
        through the anonymous exchange, so the binding is not needed for
        delivery; declaring keeps the broker's state what Celery tools expect.
        """
        self._app.amqp.queues[EVENTS_QUEUE](self._messages.channel).declare()

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
        built = self._messages.build(
            HANDLE_EVENT,
            (),
            handle_event_kwargs(envelope),
            EVENTS_QUEUE,
            kwargsrepr=self.kwargsrepr(envelope),
        )
        return built.task_id, built.queue_key, built.payload

    def close(self) -> None:
        """Release the kombu connection."""
        self._messages.close()
