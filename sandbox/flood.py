"""``POST /sandbox/posts/flood``: many posts by one person in one chat, at once or at a rate.

Load tests need more posts per second than clients posting over HTTP can
make. A flood makes each post as ``POST /restapi/v1.0/glip/posts`` does
(:func:`sandbox.glip.add_post`): it is stored, readable through the REST
API, and sent as ``PostAdded`` to every subscribed member of the chat, over
PubNub or the WebSocket gateway. No REST call is made, so, as for every
control call, nothing is recorded, rate-limited or faulted.

::

    {"groupId", "personId" (id or email of a member of the chat),
     "count" (1..100000), "rate"? (posts per second, > 0; absent: as fast as possible),
     "text"? ("flood {n}": {n} becomes the post's 1-based index in the flood)}
    → 200 {"created", "seconds", "firstPostId", "lastPostId"}

The answer comes once every post is made. With a ``rate``, post ``i`` (from 0)
is made ``i / rate`` s after the first; without, posts are made back to back.
Either way the loop is given back every :data:`BATCH` posts at most, so
PubNub long-polls, WebSocket writes and REST calls are served during a
flood. ``seconds`` is the time from the first post to the end of the last.
The flood stops early, answering how many were ``created``, if the chat
disappears or the author leaves it meanwhile (a reset, a ``bulk-assign``).
A bad body answers 400 with the classic body: ``CMN-100`` for a missing field,
``CMN-101`` for an unknown chat or person, an author who is not a member, a
count out of range, a rate that is not a positive number or a text the
platform would refuse.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from sandbox.errors import invalid, missing, read_json_object
from sandbox.glip import add_post, id_field, post_text
from sandbox.notifications import Notifier
from sandbox.store import Group, Post, Store

log = logging.getLogger("sandbox.flood")

PATH = "/sandbox/posts/flood"
MAX_COUNT = 100_000
#: Most posts made between two yields to the loop.
BATCH = 50
DEFAULT_TEXT = "flood {n}"
#: Absorbs float error in ``elapsed * rate`` so that a post due now is not put off.
_EPSILON = 1e-9


class FloodControl:
    """The handler of ``POST /sandbox/posts/flood`` over the store and the notifier."""

    def __init__(self, store: Store, notifier: Notifier) -> None:
        self._store = store
        self._notifier = notifier

    def routes(self) -> list[web.RouteDef]:
        """The aiohttp route."""
        return [web.post(PATH, self.flood)]

    async def flood(self, request: web.Request) -> web.Response:
        """Make ``count`` posts as ``personId`` in ``groupId``; answer when they are made."""
        body = await read_json_object(request)
        group = self._group(id_field(body, "groupId"))
        author = self._author(id_field(body, "personId"), group)
        count = _count(body.get("count"))
        rate = _rate(body.get("rate"))
        template = body.get("text", DEFAULT_TEXT)
        if not isinstance(template, str):
            raise invalid("text", "a string")
        # The longest text is the last one's: check it as createPost checks a text.
        post_text(_text(template, count), has_attachments=False)
        made: list[Post] = []

        def make() -> bool:
            if self._store.visible_group(group.id, author) is not group:
                return False
            made.append(
                add_post(
                    self._store,
                    self._notifier,
                    group,
                    author,
                    _text(template, len(made) + 1),
                )
            )
            return True

        started = time.monotonic()
        created = await pace(make, count, rate)
        seconds = time.monotonic() - started
        log.info(
            "flood of %d/%d posts by %s in %s at %s took %.3f s",
            created,
            count,
            author,
            group.id,
            f"{rate:g}/s" if rate else "max",
            seconds,
        )
        return web.json_response(
            {
                "created": created,
                "seconds": seconds,
                "firstPostId": made[0].id if made else None,
                "lastPostId": made[-1].id if made else None,
            }
        )

    def _group(self, group_id: str) -> Group:
        group = self._store.groups.get(group_id)
        if group is None:
            raise invalid("groupId", f"unknown chat {group_id}")
        return group

    def _author(self, ref: str, group: Group) -> str:
        person = self._store.person_by_email(ref) if "@" in ref else self._store.person(ref)
        if person is None:
            raise invalid("personId", f"unknown person {ref}")
        if self._store.visible_group(group.id, person.id) is None:
            raise invalid("personId", f"{person.id} is not a member of chat {group.id}")
        return person.id


async def pace(
    make: Callable[[], bool],
    count: int,
    rate: float | None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> int:
    """Call ``make`` ``count`` times, the ``i``-th (from 0) no sooner than ``i / rate`` s
    after the first (back to back without a rate), sleeping at least every :data:`BATCH`
    calls; stop early when ``make`` answers False. Return how many calls answered True."""
    started = clock()
    made = 0
    while made < count:
        due = (
            count
            if rate is None
            else min(count, math.floor((clock() - started) * rate + _EPSILON) + 1)
        )
        for _ in range(min(due - made, BATCH)):
            if not make():
                return made
            made += 1
        if made >= count:
            break
        if rate is None or made < due:
            await sleep(0)
        else:
            await sleep(max(0.0, started + made / rate - clock()))
    return made


def _text(template: str, index: int) -> str:
    return template.replace("{n}", str(index))


def _count(value: object) -> int:
    if value is None:
        raise missing("count")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
        raise invalid("count", f"an integer from 1 to {MAX_COUNT}")
    return value


def _rate(value: object) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise invalid("rate", "a positive number of posts per second")
    return float(value)
