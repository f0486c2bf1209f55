"""``connect(settings)``: the Redis client, token store and REST client, wired once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis
import requests

from glipbot.platform.auth import Auth
from glipbot.platform.http import HttpTransport, RequestHook
from glipbot.platform.ratelimit import RateLimiter
from glipbot.platform.rest import RestClient, TokenSource
from glipbot.platform.tokens import TokenStore
from glipbot.settings import Settings
from glipbot.state.counters import Counters
from glipbot.state.keys import Keys
from glipbot.state.redis import redis_from_settings


@dataclass
class Platform:
    """Everything a process needs to talk to RingCentral and to the shared state."""

    settings: Settings
    redis: redis.Redis
    keys: Keys
    auth: Auth
    tokens: TokenStore
    rest: RestClient
    limiter: RateLimiter
    counters: Counters

    def installed_client(self, bot_id: str, tokens: TokenSource) -> RestClient:
        """A REST client for installed bot ``bot_id`` with its own token, on this platform's
        transport: one connection pool, and the rate limiter, which keeps each bot's
        buckets apart because the client names its bot."""
        return RestClient(self.settings, tokens, transport=self.rest.transport, bot_id=bot_id)

    def close(self) -> None:
        """Close the HTTP session and the Redis connection pool."""
        self.rest.transport.session.close()
        self.redis.close()


def connect(
    settings: Settings,
    *,
    redis_client: redis.Redis | None = None,
    session: requests.Session | None = None,
    hooks: Sequence[RequestHook] = (),
) -> Platform:
    """Wire Redis, OAuth, the token store and the REST client from ``settings``.

    Nothing is called yet: the first REST call obtains the token (under the
    store's lock). OAuth and REST share one transport, and every call on it
    passes the cluster-wide rate limiter first, then ``hooks``.
    """
    client = redis_client if redis_client is not None else redis_from_settings(settings)
    keys = Keys.from_settings(settings)
    counters = Counters(client, keys.counters)
    limiter = RateLimiter(client, keys, limits=settings.rate_limits, counters=counters)
    transport = HttpTransport(
        settings.server_url, settings.http_timeout, session, [limiter, *hooks]
    )
    auth = Auth(settings, transport)
    tokens = TokenStore(settings, client, auth)
    rest = RestClient(settings, tokens, transport=transport)
    return Platform(
        settings=settings,
        redis=client,
        keys=keys,
        auth=auth,
        tokens=tokens,
        rest=rest,
        limiter=limiter,
        counters=counters,
    )
