"""Finding a reply's post in its chat, and deleting the one a late POST added twice.

A POST whose answer never came (a timeout, a lost connection, a 5xx) may
have been made, or may still be made by the platform a little later. The
poster (:mod:`worker.replies`) looks for the post in the chat
(:meth:`Posts.find`) and claims it, so one post belongs to one reply key.
When it had to post again after such a POST, the first one may still land
afterwards: :class:`DuplicateWatch` keeps the reply for
:data:`WATCH_FOR` seconds, and its :meth:`~DuplicateWatch.sweep` (run by the
reaper) deletes a post of the bot with the same content that no reply owns,
so the chat shows the reply once.

Each bot installation has its own posts and claims: an installed bot's
(``scope``, its id) are looked for and deleted with its own client, and its
claims are kept apart from the configured bot's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import redis

from glipbot import log_events as ev
from glipbot.bot import Reply
from glipbot.errors import NotFoundError, PermanentError, PlatformError
from glipbot.events import epoch_seconds
from glipbot.logging import get_logger
from glipbot.state.counters import Counters
from glipbot.state.keys import Keys

#: How long reply records and post claims are kept.
REPLY_TTL = 7 * 24 * 3600
#: How far back in the chat a reply's post is looked for.
RECONCILE_DEPTH = 100
#: The platform's clock and ours may disagree by this much.
CLOCK_SKEW = 120.0
#: How long after its first unanswered POST a reply is watched for a late duplicate.
WATCH_FOR = 600.0

_log = get_logger(__name__)


class PostsApi(Protocol):
    """The calls the poster needs (``glipbot.platform.rest.RestClient`` has them)."""

    def create_post(
        self,
        group_id: str,
        text: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]: ...

    def list_posts(
        self, group_id: str, record_count: int = 30, page_token: str | None = None
    ) -> dict[str, Any]: ...

    def delete_post(self, chat_id: str, post_id: str) -> None: ...


class Posts:
    """The bot's posts in a chat, and which reply key owns each (the chat's claims).

    ``bot_id`` gives the bot's own person id (its posts' ``creatorId``);
    ``scope`` is the installed bot whose claims these are (None: the configured bot).
    """

    def __init__(
        self,
        api: PostsApi,
        client: redis.Redis,
        keys: Keys,
        bot_id: Callable[[], str],
        *,
        scope: str | None = None,
    ) -> None:
        self.api = api
        self._redis = client
        self._keys = keys
        self._bot_id = bot_id
        self.scope = scope

    def candidates(
        self, reply: Reply, since: float, page: list[dict[str, Any]] | None = None
    ) -> list[str]:
        """Ids of the bot's posts of ``reply``'s content made since ``since``, oldest first.

        ``page`` is the chat's newest posts when the caller read them already.
        """
        if page is None:
            page = self.newest(reply.group_id)
        bot = self._bot_id()
        return [
            str(post["id"])
            for post in reversed(page)  # oldest first
            if str(post.get("creatorId")) == bot
            and same_content(post, reply)
            and epoch_seconds(post.get("creationTime")) >= since - CLOCK_SKEW
        ]

    def newest(self, group_id: str) -> list[dict[str, Any]]:
        """The chat's newest posts, newest first (one ``GET /glip/posts``)."""
        records = self.api.list_posts(group_id, record_count=RECONCILE_DEPTH).get("records")
        return list(records or [])

    def find(self, reply: Reply, since: float) -> str | None:
        """Claim and return the oldest post of ``reply`` made since ``since`` that no reply owns."""
        for post_id in self.candidates(reply, since):
            if self.claim(reply.group_id, post_id):
                return post_id
        return None

    def claim(self, group_id: str, post_id: str) -> bool:
        """Make ``post_id`` owned; False when a reply (or a sweep) owns it already."""
        claims = self._keys.reply_claims(group_id, self.scope)
        if not self._redis.sadd(claims, post_id):
            return False
        self._redis.expire(claims, REPLY_TTL)
        return True

    def unclaim(self, group_id: str, post_id: str) -> None:
        """Give up a claim (a delete that failed, to be tried again)."""
        self._redis.srem(self._keys.reply_claims(group_id, self.scope), post_id)


class DuplicateWatch:
    """Replies posted again after an unanswered POST, watched for the late original.

    ``posts_of(scope)`` gives the :class:`Posts` of an installation (None: the
    configured bot), as each watched reply names the bot that posted it.
    """

    def __init__(
        self,
        posts_of: Callable[[str | None], Posts],
        client: redis.Redis,
        keys: Keys,
        counters: Counters,
        *,
        clock: Callable[[], float] = time.time,
        watch_for: float = WATCH_FOR,
    ) -> None:
        self._posts_of = posts_of
        self._redis = client
        self._key = keys.reply_watch
        self._counters = counters
        self._clock = clock
        self._watch_for = watch_for

    def add(
        self, reply: Reply, post_id: str, since: float, extras: int, *, scope: str | None = None
    ) -> None:
        """Watch ``reply``, posted as ``post_id`` (by installed bot ``scope``, None: the
        configured bot): up to ``extras`` more of its posts may land, made since ``since``
        (its first unanswered POST)."""
        record = {
            "reply": reply.to_json(),
            "post_id": post_id,
            "since": since,
            "until": since + self._watch_for,
            "extras": extras,
            "bot_id": scope,
        }
        self._redis.hset(self._key, watch_field(reply.key, scope), json.dumps(record))

    def watched(self) -> dict[str, dict[str, Any]]:
        """The replies watched now, by :func:`watch_field`."""
        return {_text(key): json.loads(raw) for key, raw in self._redis.hgetall(self._key).items()}

    def sweep(self) -> int:
        """Delete the late duplicates that landed; forget replies past their watch.

        One ``GET /glip/posts`` per chat (and bot) with a watched reply; returns
        how many posts were deleted. A chat the platform cannot be asked about
        now is tried again on the next sweep, until its replies' watch ends;
        the replies of a bot that is no installation any more are forgotten.
        """
        by_chat: dict[tuple[str | None, str], list[tuple[str, dict[str, Any]]]] = {}
        for key, record in self.watched().items():
            chat = (record.get("bot_id"), str(record["reply"]["group_id"]))
            by_chat.setdefault(chat, []).append((key, record))
        deleted = 0
        for (scope, group_id), records in by_chat.items():
            try:
                posts = self._posts_of(scope)
                page = posts.newest(group_id)
            except PlatformError as exc:
                _log.warning(
                    ev.DUPLICATE_SWEEP_FAILED, group_id=group_id, bot_id=scope, error=str(exc)
                )
                gone = isinstance(exc, PermanentError) and scope is not None
                for key, record in records:
                    if gone or self._clock() > float(record["until"]):
                        self._redis.hdel(self._key, key)
                continue
            for key, record in records:
                deleted += self._sweep_one(key, record, page, posts)
        return deleted

    def _sweep_one(
        self, key: str, record: dict[str, Any], page: list[dict[str, Any]], posts: Posts
    ) -> int:
        reply = Reply.from_json(record["reply"])
        extras = int(record["extras"])
        deleted = 0
        for post_id in posts.candidates(reply, float(record["since"]), page):
            if extras <= 0:
                break
            if post_id == record["post_id"] or not posts.claim(reply.group_id, post_id):
                continue
            gone = self._delete(reply, post_id, posts)
            if gone is not None:
                deleted += int(gone)
                extras -= 1
        if extras <= 0 or self._clock() > float(record["until"]):
            self._redis.hdel(self._key, key)
        elif extras != int(record["extras"]):
            self._redis.hset(self._key, key, json.dumps({**record, "extras": extras}))
        return deleted

    def _delete(self, reply: Reply, post_id: str, posts: Posts) -> bool | None:
        """True: deleted; False: someone deleted it first; None: not now (tried again later)."""
        log = _log.bind(
            reply_key=reply.key, group_id=reply.group_id, post_id=post_id, bot_id=posts.scope
        )
        try:
            posts.api.delete_post(reply.group_id, post_id)
        except NotFoundError:
            log.info(ev.REPLY_DUPLICATE_GONE)
            return False
        except PlatformError as exc:
            posts.unclaim(reply.group_id, post_id)
            log.warning(ev.REPLY_DUPLICATE_DELETE_FAILED, error=str(exc))
            return None
        self._counters.incr("replies_duplicate_deleted", bot=posts.scope)
        log.warning(ev.REPLY_DUPLICATE_DELETED)
        return True


def watch_field(reply_key: str, scope: str | None = None) -> str:
    """A watched reply's field in the watch hash: its key, after its installed bot's id."""
    return reply_key if scope is None else f"bot:{scope}:{reply_key}"


def same_content(post: Mapping[str, Any], reply: Reply) -> bool:
    """Whether ``post`` carries ``reply``'s text and attachments."""
    return (post.get("text") or "") == (reply.text or "") and _titles(
        post.get("attachments")
    ) == _titles(reply.attachments)


def _titles(attachments: Sequence[Mapping[str, Any]] | None) -> list[Any]:
    return [(a.get("type"), a.get("title"), a.get("text")) for a in attachments or ()]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
