"""The listener: one active process turning platform notifications into Celery tasks.

Run it with ``python -m listener``. The public surface is small: the service,
the transport interface, and the pieces other roles may reuse.
"""

from listener.decrypt import DecryptError, Decryptor
from listener.enqueue import QUEUE, TASK_NAME, CeleryMessages
from listener.metrics import Metrics
from listener.service import ListenerService
from listener.transport import OnMessage, Transport, TransportStats

__all__ = [
    "QUEUE",
    "TASK_NAME",
    "CeleryMessages",
    "DecryptError",
    "Decryptor",
    "ListenerService",
    "Metrics",
    "OnMessage",
    "Transport",
    "TransportStats",
]
