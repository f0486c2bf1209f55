"""The listener: one active process turning platform notifications into Celery tasks.

The path of one event: :mod:`~listener.subscription` keeps the platform
publishing on a channel → :mod:`~listener.transports` reads it (from where
:mod:`~listener.resume` says) → :mod:`~listener.ingest` decrypts
(:mod:`~listener.decrypt`), validates and de-duplicates →
:mod:`~listener.enqueue` puts a Celery message on ``events``, fenced by the
lease (:mod:`~listener.lease`, :mod:`~listener.leadership`). Around it:
:mod:`~listener.status`, :mod:`~listener.health`, :mod:`~listener.metrics`,
:mod:`~listener.commands`; :mod:`~listener.service` wires them. Installed
bots take the same path, each under the lease of its shard
(:mod:`~listener.fleet`). Every way of
stopping is bounded (:mod:`~listener.cancellation`), and a listener that gets
stuck anyway ends itself (:mod:`~listener.watchdog`).

Run it with ``python -m listener`` (or ``glipbot-listener``).
"""
