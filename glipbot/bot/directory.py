"""Who is who: persons and chats looked up through the platform, cached in memory.

A :class:`Directory` is anything with ``get_person(id)`` and ``get_group(id)``
returning the platform's JSON objects; the REST client is one, so it can be
passed in as is. :class:`CachingDirectory` wraps one with a small TTL + LRU
cache, so a handler may call ``ctx.person(...)`` freely.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from glipbot.events import Group, parse_group

DEFAULT_CACHE_TTL = 300.0
DEFAULT_CACHE_SIZE = 1024


class Directory(Protocol):
    """Look-ups of persons (``GET /glip/persons/{id}``) and chats (``GET /glip/groups/{id}``)."""

    def get_person(self, person_id: str) -> Mapping[str, Any]:
        """The Person object of ``person_id``; raises ``NotFoundError`` when unknown."""
        ...

    def get_group(self, group_id: str) -> Mapping[str, Any]:
        """The Group object of ``group_id``; raises ``NotFoundError`` when unknown."""
        ...


@dataclass(frozen=True)
class Person:
    """A Glip person, as much of it as bots use."""

    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""

    @property
    def full_name(self) -> str:
        """First and last name, or the e-mail when the platform knows neither."""
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.email

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Person:
        """Build from the platform's Person JSON; absent fields become empty strings."""
        return cls(
            id=str(data.get("id", "")),
            first_name=str(data.get("firstName") or ""),
            last_name=str(data.get("lastName") or ""),
            email=str(data.get("email") or ""),
        )


class CachingDirectory:
    """A :class:`Directory` that remembers answers for ``ttl`` seconds, up to ``maxsize`` each.

    Thread-safe, since a worker may run handlers in threads. Failures are not
    cached: the next look-up asks again. One instance per process and bot
    installation is the intended use (each installation sees its own account's
    persons and chats, so two installations never share one);
    :meth:`~glipbot.bot.Bot.handle` wraps a bare directory in a fresh one per
    event, so repeated look-ups within one event are cached anyway.
    """

    def __init__(
        self,
        inner: Directory,
        *,
        ttl: float = DEFAULT_CACHE_TTL,
        maxsize: int = DEFAULT_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self._ttl = ttl
        self._maxsize = maxsize
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], tuple[float, Mapping[str, Any]]] = OrderedDict()

    def get_person(self, person_id: str) -> Mapping[str, Any]:
        """The Person object of ``person_id``, from the cache when fresh."""
        return self._get("person", person_id, self.inner.get_person)

    def get_group(self, group_id: str) -> Mapping[str, Any]:
        """The Group object of ``group_id``, from the cache when fresh."""
        return self._get("group", group_id, self.inner.get_group)

    def person(self, person_id: str) -> Person:
        """The typed :class:`Person` of ``person_id``."""
        return Person.from_dict(self.get_person(person_id))

    def group(self, group_id: str) -> Group:
        """The typed :class:`~glipbot.events.Group` of ``group_id``."""
        return parse_group(dict(self.get_group(group_id)))

    def clear(self) -> None:
        """Forget everything, e.g. after a ``GroupChanged`` event."""
        with self._lock:
            self._entries.clear()

    def _get(
        self, kind: str, key: str, load: Callable[[str], Mapping[str, Any]]
    ) -> Mapping[str, Any]:
        now = self._clock()
        with self._lock:
            hit = self._entries.get((kind, key))
            if hit is not None and hit[0] > now:
                self._entries.move_to_end((kind, key))
                return hit[1]
        # Load outside the lock: a slow platform call must not block other threads.
        value = load(key)
        with self._lock:
            self._entries[(kind, key)] = (now + self._ttl, value)
            self._entries.move_to_end((kind, key))
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)
        return value
