"""Rate limits per (person, app, group) over a sliding window, with RingCentral's headers.

Every REST response carries ``X-Rate-Limit-Group``, ``-Limit``, ``-Remaining``
and ``-Window``. Past the limit the answer is 429 ``CMN-301`` with
``Retry-After`` = the window, and a call made during the penalty restarts it.
Who is counted: the token's person and app; a call without a valid token
counts against the client's IP; the Auth group (token, revoke) counts per app
and login name (``username``), else per the bot an authorization code was
issued for, else per token owner, else per IP.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from sandbox.clock import Clock
from sandbox.config import RATE_LIMITS
from sandbox.errors import Handler, Middleware, is_metered, rate_limited

#: (method, path pattern, group) from the spec's ``x-throttling-group``; first match wins.
ROUTE_GROUPS: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(p), g)
    for m, p, g in [
        ("*", r"^/restapi/oauth/", "Auth"),
        ("POST", r"^/restapi/v1\.0/glip/posts$", "Light"),
        ("GET", r"^/restapi/v1\.0/glip/posts$", "Light"),
        ("POST", r"^/restapi/v1\.0/glip/groups$", "Medium"),
        ("GET", r"^/restapi/v1\.0/glip/groups$", "Medium"),
        ("*", r"^/restapi/v1\.0/glip/groups/[^/]+/bulk-assign$", "Medium"),
        ("GET", r"^/restapi/v1\.0/glip/groups/[^/]+$", "Light"),
        ("PUT", r"^/restapi/v1\.0/glip/groups/[^/]+/posts/[^/]+/text$", "Medium"),
        ("GET", r"^/restapi/v1\.0/glip/chats/[^/]+/posts/[^/]+$", "Light"),
        ("PATCH", r"^/restapi/v1\.0/glip/chats/[^/]+/posts/[^/]+$", "Medium"),
        ("DELETE", r"^/restapi/v1\.0/glip/chats/[^/]+/posts/[^/]+$", "Medium"),
        ("GET", r"^/restapi/v1\.0/glip/persons/[^/]+$", "Light"),
        ("POST", r"^/restapi/v1\.0/subscription/?$", "Medium"),
        ("GET", r"^/restapi/v1\.0/subscription/?$", "Light"),
        ("GET", r"^/restapi/v1\.0/subscription/[^/]+/?$", "Light"),
        ("PUT", r"^/restapi/v1\.0/subscription/[^/]+/?$", "Medium"),
        ("DELETE", r"^/restapi/v1\.0/subscription/[^/]+/?$", "Medium"),
        ("POST", r"^/restapi/v1\.0/subscription/[^/]+/renew/?$", "Light"),
        ("GET", r"^/restapi/v1\.0/account/[^/]+/extension/[^/]+$", "Light"),
    ]
]
DEFAULT_GROUP = "Light"


def group_of(method: str, path: str) -> str:
    """The rate-limit group of a call (unknown routes count as Light)."""
    for m, pattern, group in ROUTE_GROUPS:
        if m in ("*", method) and pattern.match(path):
            return group
    return DEFAULT_GROUP


@dataclass(frozen=True)
class Verdict:
    """The outcome of counting one call."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: float


class RateLimiter:
    """Sliding-window counters with a penalty that each call in it restarts."""

    def __init__(self, window: float, clock: Clock, limits: dict[str, int] | None = None) -> None:
        self.window = window
        self._clock = clock
        self._limits = dict(limits or RATE_LIMITS)
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._penalty_until: dict[tuple[str, str], float] = {}

    def reset(self) -> None:
        """Forget every counter and penalty."""
        self._hits.clear()
        self._penalty_until.clear()

    def hit(self, who: str, group: str) -> Verdict:
        """Count one call of ``who`` in ``group``."""
        limit = self._limits[group]
        key = (who, group)
        now = self._clock()
        if self._penalty_until.get(key, 0.0) > now:
            self._penalty_until[key] = now + self.window
            return Verdict(False, limit, 0, self.window)
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= limit:
            self._penalty_until[key] = now + self.window
            return Verdict(False, limit, 0, self.window)
        hits.append(now)
        return Verdict(True, limit, limit - len(hits), 0.0)


Subject = Callable[[web.Request, str], Awaitable[str]]


def rate_limit_middleware(limiter: RateLimiter, subject: Subject) -> Middleware:
    """Count each REST call, answer 429 past the limit, and set the headers on every answer."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_metered(request):
            return await handler(request)
        group = group_of(request.method, request.path)
        who = await subject(request, group)
        verdict = limiter.hit(who, group)
        if verdict.allowed:
            response = await handler(request)
        else:
            response = rate_limited(verdict.retry_after).response()
        response.headers["X-Rate-Limit-Group"] = group
        response.headers["X-Rate-Limit-Limit"] = str(verdict.limit)
        response.headers["X-Rate-Limit-Remaining"] = str(verdict.remaining)
        response.headers["X-Rate-Limit-Window"] = f"{limiter.window:g}"
        return response

    return middleware
