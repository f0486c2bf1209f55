"""worker.replies: a reply reaches the chat once, whatever happens to its task."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from glipbot.bot import Reply
from glipbot.errors import BadRequestError, NetworkError, RateLimitedError, RetryLater
from glipbot.state.keys import Keys
from worker.replies import ORDER_TIMEOUT, Outgoing, ReplyPoster

KEYS = Keys("test:")
BOT = "7777"


class FakeChat:
    """The platform's posts in one chat; can lose the answer after creating a post."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.fail_next: Exception | None = None
        self.lose_answer_next = False
        self.creates = 0

    def create_post(
        self,
        group_id: str,
        text: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        self.creates += 1
        if self.fail_next:
            error, self.fail_next = self.fail_next, None
            raise error
        post = {
            "id": str(1000 + len(self.posts)),
            "groupId": group_id,
            "text": text,
            "attachments": attachments,
            "creatorId": BOT,
            "creationTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        self.posts.append(post)
        if self.lose_answer_next:
            self.lose_answer_next = False
            raise NetworkError("read timed out")
        return post

    def list_posts(
        self, group_id: str, record_count: int = 30, page_token: str | None = None
    ) -> dict[str, Any]:
        return {"records": list(reversed(self.posts))[:record_count], "navigation": {}}


@pytest.fixture
def chat() -> FakeChat:
    return FakeChat()


@pytest.fixture
def poster(chat: FakeChat, redis_client: redis.Redis) -> ReplyPoster:
    return ReplyPoster(chat, redis_client, KEYS, lambda: BOT)


def test_a_reply_posted_twice_reaches_the_chat_once(chat: FakeChat, poster: ReplyPoster) -> None:
    reply = Reply(key="evt-1:0", group_id="g", text="Hi John")

    first = poster.deliver(Outgoing(reply))
    second = poster.deliver(Outgoing(reply))

    assert first == second
    assert [p["text"] for p in chat.posts] == ["Hi John"]
    assert chat.creates == 1


def test_a_post_whose_answer_was_lost_is_found_not_posted_again(
    chat: FakeChat, poster: ReplyPoster
) -> None:
    """Given the POST reached the platform but the worker never saw the answer,
    when the task runs again, then it finds the post in the chat and claims it."""
    reply = Reply(key="evt-1:0", group_id="g", text="Your flight is booked")
    chat.lose_answer_next = True

    with pytest.raises(NetworkError):
        poster.deliver(Outgoing(reply))
    post_id = poster.deliver(Outgoing(reply))

    assert len(chat.posts) == 1
    assert post_id == chat.posts[0]["id"]
    assert chat.creates == 1


def test_a_post_that_never_arrived_is_posted_on_the_next_try(
    chat: FakeChat, poster: ReplyPoster
) -> None:
    reply = Reply(key="evt-1:0", group_id="g", text="hello")
    chat.fail_next = NetworkError("connection refused")

    with pytest.raises(NetworkError):
        poster.deliver(Outgoing(reply))
    poster.deliver(Outgoing(reply))

    assert [p["text"] for p in chat.posts] == ["hello"]


def test_two_identical_replies_are_both_delivered_after_lost_answers(
    chat: FakeChat, poster: ReplyPoster
) -> None:
    """Each post is claimed by one reply key, so two "help" answers stay two."""
    first = Reply(key="evt-1:0", group_id="g", text="help text")
    second = Reply(key="evt-2:0", group_id="g", text="help text")
    chat.lose_answer_next = True
    with pytest.raises(NetworkError):
        poster.deliver(Outgoing(first))

    poster.deliver(Outgoing(second))
    poster.deliver(Outgoing(first))

    assert [p["text"] for p in chat.posts] == ["help text", "help text"]


@pytest.mark.parametrize(
    "refusal",
    [RateLimitedError("429", retry_after=5.0), BadRequestError("text too long", status=400)],
)
def test_a_refused_post_is_not_pending(
    chat: FakeChat, poster: ReplyPoster, redis_client: redis.Redis, refusal: Exception
) -> None:
    reply = Reply(key="evt-1:0", group_id="g", text="x")
    chat.fail_next = refusal

    with pytest.raises(type(refusal)):
        poster.deliver(Outgoing(reply))

    assert redis_client.hgetall(KEYS.reply("evt-1:0")) == {}


def test_a_later_reply_waits_for_the_earlier_one(chat: FakeChat, poster: ReplyPoster) -> None:
    poster.turns.handled("g", 1, 1)
    poster.turns.handled("g", 2, 1)
    later = Outgoing(Reply(key="evt-2:0", group_id="g", text="second"), seq=2)

    with pytest.raises(RetryLater):
        poster.deliver(later, wait=0.05)
    poster.deliver(Outgoing(Reply(key="evt-1:0", group_id="g", text="first"), seq=1))
    poster.deliver(later)

    assert [p["text"] for p in chat.posts] == ["first", "second"]


def test_a_reply_stops_waiting_for_an_event_that_never_comes(
    chat: FakeChat, poster: ReplyPoster
) -> None:
    poster.turns.handled("g", 2, 1)  # event 1 was lost before it was handled
    old = Outgoing(Reply(key="evt-2:0", group_id="g", text="late"), seq=2, created=0.0)
    assert old.created < 1 < ORDER_TIMEOUT

    poster.deliver(old, wait=0.05)

    assert [p["text"] for p in chat.posts] == ["late"]


def test_outgoing_round_trips_through_json() -> None:
    out = Outgoing(Reply(key="k:0", group_id="g", text="t", attachments=({"type": "Card"},)), 3)

    assert Outgoing.from_json({**out.to_json(), "unknown": 1}) == out


def test_the_lock_holds_through_a_post_slower_than_its_ttl(
    chat: FakeChat, redis_client: redis.Redis
) -> None:
    """The heartbeat extends the lock, so a second worker cannot post the same reply."""
    slow = ReplyPoster(chat, redis_client, KEYS, lambda: BOT, lock_ttl=0.3)
    other = ReplyPoster(chat, redis_client, KEYS, lambda: BOT, lock_ttl=0.3)
    reply = Reply(key="evt-1:0", group_id="g", text="slow")
    original = chat.create_post
    busy: list[Exception] = []

    def create_slowly(*args: Any, **kwargs: Any) -> dict[str, Any]:
        chat.create_post = original  # type: ignore[method-assign]
        time.sleep(1.0)  # three lock lifetimes
        try:
            other.post_once(reply)
        except RetryLater as exc:
            busy.append(exc)
        return original(*args, **kwargs)

    chat.create_post = create_slowly  # type: ignore[method-assign]
    slow.post_once(reply)

    assert len(busy) == 1
    assert len(chat.posts) == 1


def test_the_lock_of_a_dead_worker_lapses_within_its_ttl(
    chat: FakeChat, redis_client: redis.Redis
) -> None:
    poster = ReplyPoster(chat, redis_client, KEYS, lambda: BOT, lock_ttl=0.3)
    reply = Reply(key="evt-1:0", group_id="g", text="after the crash")
    # A worker took the lock and died: nobody extends it any more.
    redis_client.set(f"{KEYS.reply(reply.key)}:lock", "dead-worker", px=300)

    with pytest.raises(RetryLater):
        poster.post_once(reply)
    time.sleep(0.4)

    assert poster.post_once(reply) == chat.posts[0]["id"]
