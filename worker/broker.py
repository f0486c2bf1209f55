"""The workers' broker transport: kombu's Redis transport, with one client per channel.

kombu's Redis channel builds a new ``redis.Redis`` object for every command
it sends without a client at hand: each acknowledgement, each message taken
off a queue, each batch of task events published. With redis-py 5 and later
building one copies the client's table of response callbacks: a fifth of a
worker main process's CPU during a burst (seen in its profile). All those
objects wrap the channel's one connection pool, so this channel builds one
and keeps it while the pool lasts.

:func:`use_shared_clients` makes it the transport of ``redis://`` and
``rediss://`` URLs in this process (``worker.celery`` calls it), under
those names: Flower and Celery's own tools still see a ``redis`` broker,
and kombu's handling of each scheme (TLS for ``rediss``) is unchanged.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis

#: The schemes whose transport this is, once :func:`use_shared_clients` ran.
SCHEMES = ("redis", "rediss")


class Channel(kombu_redis.Channel):
    """kombu's Redis channel, reusing one synchronous client for its connection pool."""

    _shared_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:  # the event loop's client (BRPOP, LISTEN): kombu keeps it already
            return super()._create_client(asynchronous=True)
        pool = self.pool
        client = self._shared_client
        if client is None or client.connection_pool is not pool:
            # kombu drops its pool after a connection error and builds another.
            client = self._shared_client = super()._create_client()
        return client


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with :class:`Channel`."""

    Channel = Channel


def use_shared_clients() -> None:
    """Make :class:`Transport` the transport of every ``redis://`` and ``rediss://`` broker
    URL in this process."""
    for scheme in SCHEMES:
        TRANSPORT_ALIASES[scheme] = f"{__name__}:Transport"
