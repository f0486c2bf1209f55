"""The contracts between processes, each owned here and imported by both sides.

* :mod:`glipbot.contracts.queues`: the Celery queue and task names, and the
  arguments of ``handle_event`` (the listener enqueues by name, the workers
  register under the same names).
* :mod:`glipbot.contracts.chat_order`: the per-chat order of replies: the
  listener's enqueue script numbers each chat's events, the workers read the
  number back and take turns posting (a reply that must wait parks).
* :mod:`glipbot.contracts.ledger`: the work in flight, written with each
  message the listener or a worker enqueues, so that the reaper can send
  again what was lost on its way.
* :mod:`glipbot.contracts.identity`: what makes two notifications one event
  (per bot installation), the key of all of the above.
"""

from glipbot.contracts.queues import (
    EVENTS_QUEUE,
    HANDLE_EVENT,
    OPS_QUEUE,
    POST_REPLY,
    QUEUES,
    REPLIES_QUEUE,
    TASK_ROUTES,
    handle_event_kwargs,
)

__all__ = [
    "EVENTS_QUEUE",
    "HANDLE_EVENT",
    "OPS_QUEUE",
    "POST_REPLY",
    "QUEUES",
    "REPLIES_QUEUE",
    "TASK_ROUTES",
    "handle_event_kwargs",
]
