"""Recover what the platform published while nobody listened, from its REST API.

Whatever the reason events were not delivered (a subscription deleted or
expired on the platform's side, a listener outage longer than PubNub keeps
messages), the posts are still in their chats. After such a window the
leader asks for them: for each chat active within the horizon,
``GET /glip/posts`` newest first down to the last event it saw there; for
each chat the bot is in but never heard of, modified since the window
began, a ``GroupJoined``. What it finds is made into notifications of the
platform's own shape (:func:`post_added`, :func:`group_joined`) and goes
through the same ingest as PubNub's; ingest de-duplicates by post id as well
as by notification ``uuid``, so a recovered post and its late notification
run once.

Every call goes through the cluster's rate limiter (the REST client's hook);
the work is bounded by :class:`Limits`, and what was cut is counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from glipbot.events import GROUPS_FILTER, POSTS_FILTER, epoch_seconds

#: ``subscriptionId`` of a recovered notification (it came from no subscription).
SUBSCRIPTION_ID = "backfill"


class BackfillApi(Protocol):
    """The REST calls backfill needs (:class:`glipbot.platform.rest.RestClient` has them)."""

    def list_posts(
        self, group_id: str, record_count: int = 30, page_token: str | None = None
    ) -> dict[str, Any]: ...

    def iter_groups(self, types: Sequence[str] = ()) -> Iterable[dict[str, Any]]: ...


@dataclass(frozen=True)
class Limits:
    """How far back and how much one backfill looks."""

    #: Chats with no event for longer than this are not looked at (seconds).
    horizon: float = 24 * 3600.0
    #: The most chats read in one run, most recently active first.
    max_chats: int = 200
    #: The most pages of posts read per chat: a chat's whole gap, unless it is longer
    #: than this (each page is one rate-limited call; what is cut is counted).
    max_pages: int = 200
    page_size: int = 100
    #: Read this far before each chat's last seen event, for clocks that disagree.
    overlap: float = 60.0


@dataclass
class Found:
    """What one backfill run recovered, oldest first within each chat."""

    envelopes: list[dict[str, Any]] = field(default_factory=list)
    chats: int = 0
    pages: int = 0
    posts: int = 0
    groups: int = 0
    #: Chats whose gap was longer than ``max_pages`` pages, or chats beyond ``max_chats``.
    truncated: int = 0


class Backfill:
    """Finds the notifications a window of deafness lost."""

    def __init__(
        self,
        api: BackfillApi,
        bot_id: Callable[[], str],
        *,
        limits: Limits | None = None,
    ) -> None:
        self._api = api
        self._bot_id = bot_id
        self.limits = limits or Limits()

    def missed(self, seen: Mapping[str, float], since: float, now: float) -> Found:
        """Posts newer than each chat's last seen event or ``since``, whichever is older, and
        chats joined since ``since``.

        ``seen`` maps each chat to the epoch seconds of the newest event seen
        there; ``since`` is when the window began (epoch seconds). A chat may
        have been heard after the window began (PubNub delivered the newest
        messages of a full buffer, not the older ones): it is read down to
        the window's start.
        """
        found = Found()
        bot = self._bot_id()
        active = sorted(
            ((chat, at) for chat, at in seen.items() if at >= now - self.limits.horizon),
            key=lambda item: -item[1],
        )
        found.truncated += max(0, len(active) - self.limits.max_chats)
        for chat, at in active[: self.limits.max_chats]:
            self._add_posts(chat, min(at, since) - self.limits.overlap, bot, found)
        for group in self._api.iter_groups():
            group_id = str(group.get("id"))
            modified = epoch_seconds(group.get("lastModifiedTime") or group.get("creationTime"))
            if group_id not in seen and modified >= since - self.limits.overlap:
                found.envelopes.append(group_joined(group, bot))
                found.groups += 1
                self._add_posts(group_id, since - self.limits.overlap, bot, found)
        return found

    def _add_posts(self, chat: str, after: float, bot: str, found: Found) -> None:
        found.chats += 1
        for post in reversed(self._posts_since(chat, after, found)):  # oldest first
            if str(post.get("creatorId")) != bot:  # the bot's own posts ask for nothing
                found.envelopes.append(post_added(post, bot))
                found.posts += 1

    def _posts_since(self, chat: str, after: float, found: Found) -> list[dict[str, Any]]:
        """The chat's posts created after ``after``, newest first, within ``max_pages``."""
        posts: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(self.limits.max_pages):
            page = self._api.list_posts(chat, record_count=self.limits.page_size, page_token=token)
            found.pages += 1
            for post in page.get("records") or []:
                if epoch_seconds(post.get("creationTime")) <= after:
                    return posts
                posts.append(post)
            token = (page.get("navigation") or {}).get("nextPageToken")
            if not token:
                return posts
        found.truncated += 1
        return posts


def post_added(post: Mapping[str, Any], owner_id: str) -> dict[str, Any]:
    """The ``PostAdded`` notification the platform would have sent for ``post``."""
    return {
        "uuid": f"backfill-post-{post['id']}",
        "event": POSTS_FILTER,
        "timestamp": post.get("creationTime") or _iso(0.0),
        "subscriptionId": SUBSCRIPTION_ID,
        "ownerId": owner_id,
        "body": {**post, "eventType": "PostAdded"},
    }


def group_joined(group: Mapping[str, Any], owner_id: str) -> dict[str, Any]:
    """The ``GroupJoined`` notification the bot would have received for ``group``."""
    return {
        "uuid": f"backfill-group-{group['id']}",
        "event": GROUPS_FILTER,
        "timestamp": group.get("lastModifiedTime") or group.get("creationTime") or _iso(0.0),
        "subscriptionId": SUBSCRIPTION_ID,
        "ownerId": owner_id,
        "body": {**group, "eventType": "GroupJoined"},
    }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
