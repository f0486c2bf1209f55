"""The one way every process connects to Redis."""

from __future__ import annotations

import redis

from glipbot.settings import Settings

#: Seconds between PINGs on an idle pooled connection, so a connection that a
#: proxy or the server dropped is noticed before a command fails on it.
HEALTH_CHECK_INTERVAL = 30


def redis_from_settings(settings: Settings) -> redis.Redis:
    """A client for ``settings.redis_url`` (``redis://``, ``rediss://`` or ``unix://``).

    Replies are decoded to ``str``; connect and read timeouts are
    ``settings.redis_socket_timeout`` so a dead server is an error, never a hang.
    """
    return redis.Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        health_check_interval=HEALTH_CHECK_INTERVAL,
        socket_timeout=settings.redis_socket_timeout,
        socket_connect_timeout=settings.redis_socket_timeout,
        socket_keepalive=True,
    )
