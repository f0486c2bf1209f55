"""worker.replies: a reply reaches the chat once, in order, whatever happens to its task."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from glipbot.bot import Reply
from glipbot.contracts.ledger import reply_entry
from glipbot.contracts.messages import Built
from glipbot.errors import BadRequestError, NetworkError, RateLimitedError, RetryLater
from glipbot.state.counters import Counters
from glipbot.state.keys import Keys
from tests.support.clock import FakeClock
from tests.support.redis_calls import record_calls
from worker.errors import UnknownInstallationError
from worker.reconcile import WATCH_FOR
from worker.replies import Outgoing, ReplyPoster, settle_window

KEYS = Keys("test:")
BOT = "7777"
OTHER_BOT = "8888"
SETTLE = 6.0


class FakeChat:
    """The platform's posts in one chat; can lose an answer, or make a post only later."""

    def __init__(self, clock: FakeClock, creator: str = BOT) -> None:
        self.clock = clock
        self.creator = creator
        self.posts: list[dict[str, Any]] = []
        self.fail_next: Exception | None = None
        self.lose_answer_next = False
        self.late: list[dict[str, Any]] = []  # made by the platform after the client gave up
        self.delay_next = False
        self.creates = 0
        self.deleted: list[str] = []
        self._ids = 1000

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
            "groupId": group_id,
            "text": text,
            "attachments": attachments,
            "creatorId": self.creator,
        }
        if self.delay_next:
            self.delay_next = False
            self.late.append(post)
            raise NetworkError("read timed out")
        self._add(post)
        if self.lose_answer_next:
            self.lose_answer_next = False
            raise NetworkError("read timed out")
        return post

    def land_late_posts(self) -> None:
        """The platform completes the POSTs the client gave up on."""
        for post in self.late:
            self._add(post)
        self.late.clear()

    def _add(self, post: dict[str, Any]) -> None:
        self._ids += 1
        when = datetime.fromtimestamp(self.clock(), UTC).isoformat().replace("+00:00", "Z")
        post.update(id=str(self._ids), creationTime=when)
        self.posts.append(post)

    def list_posts(
        self, group_id: str, record_count: int = 30, page_token: str | None = None
    ) -> dict[str, Any]:
        return {"records": list(reversed(self.posts))[:record_count], "navigation": {}}

    def delete_post(self, chat_id: str, post_id: str) -> None:
        self.deleted.append(post_id)
        self.posts = [p for p in self.posts if p["id"] != post_id]

    def texts(self) -> list[str]:
        return [p["text"] for p in self.posts]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(time.time())


@pytest.fixture
def chat(clock: FakeClock) -> FakeChat:
    return FakeChat(clock)


@pytest.fixture
def other_chat(clock: FakeClock) -> FakeChat:
    """The same chat as the installed bot ``OTHER_BOT`` posts in it, with its own client."""
    return FakeChat(clock, creator=OTHER_BOT)


@pytest.fixture
def poster(
    chat: FakeChat, other_chat: FakeChat, redis_client: redis.Redis, clock: FakeClock
) -> ReplyPoster:
    def installed(bot_id: str) -> FakeChat:
        if bot_id != OTHER_BOT:
            raise UnknownInstallationError(bot_id, "unknown")
        return other_chat

    return ReplyPoster(
        chat, redis_client, KEYS, lambda: BOT, installed=installed, settle=SETTLE, clock=clock
    )


def _enqueued(poster: ReplyPoster, out: Outgoing) -> Outgoing:
    """``out`` registered in the ledger and pushed, as ``enqueue_reply`` does."""
    poster.enqueue(out, Built(f"task-{out.key}", "replies", f"message of {out.key}"))
    return out


def test_the_settle_window_is_twice_the_http_timeout() -> None:
    assert settle_window(15.0) == 30.0


def test_a_reply_posted_twice_reaches_the_chat_once(chat: FakeChat, poster: ReplyPoster) -> None:
    reply = Reply(key="evt-1:0", group_id="g", text="Hi John")

    first = poster.deliver(Outgoing(reply))
    second = poster.deliver(Outgoing(reply))

    assert first == second
    assert chat.texts() == ["Hi John"]
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


def test_after_an_unanswered_post_nothing_is_posted_again_before_the_settle_window(
    chat: FakeChat, poster: ReplyPoster, clock: FakeClock
) -> None:
    """The first POST timed out and made nothing; the retry waits out the window
    (RetryLater for the time left, not a sleep), then posts once."""
    reply = Reply(key="evt-1:0", group_id="g", text="hello")
    chat.fail_next = NetworkError("connection reset")
    with pytest.raises(NetworkError):
        poster.deliver(Outgoing(reply))
    clock.advance(1.0)

    with pytest.raises(RetryLater) as waiting:
        poster.deliver(Outgoing(reply))
    assert waiting.value.retry_after == pytest.approx(SETTLE - 1.0)
    assert chat.creates == 1
    clock.advance(SETTLE)
    poster.deliver(Outgoing(reply))

    assert chat.texts() == ["hello"]
    assert chat.creates == 2


def test_a_post_the_platform_completes_within_the_window_is_found_not_posted_again(
    chat: FakeChat, poster: ReplyPoster, clock: FakeClock
) -> None:
    reply = Reply(key="evt-1:0", group_id="g", text="late but in time")
    chat.delay_next = True
    with pytest.raises(NetworkError):
        poster.deliver(Outgoing(reply))
    clock.advance(SETTLE / 2)
    with pytest.raises(RetryLater):
        poster.deliver(Outgoing(reply))  # not there yet

    chat.land_late_posts()
    clock.advance(SETTLE)
    post_id = poster.deliver(Outgoing(reply))

    assert chat.texts() == ["late but in time"]
    assert post_id == chat.posts[0]["id"]
    assert chat.creates == 1


def test_a_post_completed_after_the_window_is_deleted_so_the_chat_shows_one(
    chat: FakeChat, poster: ReplyPoster, clock: FakeClock, redis_client: redis.Redis
) -> None:
    """Given a POST that the platform completes only after the retry posted
    again, when the watch sweeps, then the late one (owned by no reply) is
    deleted and counted, and the reply's own post stays."""
    reply = Reply(key="evt-1:0", group_id="g", text="booked")
    chat.delay_next = True
    with pytest.raises(NetworkError):
        poster.deliver(Outgoing(reply))
    clock.advance(SETTLE)
    kept = poster.deliver(Outgoing(reply))
    chat.land_late_posts()
    assert chat.texts() == ["booked", "booked"]

    deleted = poster.duplicates.sweep()

    assert deleted == 1
    assert [p["id"] for p in chat.posts] == [kept]
    assert Counters(redis_client, KEYS.counters).all()["replies_duplicate_deleted"] == 1
    assert poster.duplicates.watched() == {}


def test_the_watch_never_deletes_an_identical_reply_of_another_key(
    chat: FakeChat, poster: ReplyPoster, clock: FakeClock
) -> None:
    first = Reply(key="evt-1:0", group_id="g", text="help text")
    chat.delay_next = True
    with pytest.raises(NetworkError):
        poster.deliver(Outgoing(first))
    clock.advance(SETTLE)
    poster.deliver(Outgoing(first))
    poster.deliver(Outgoing(Reply(key="evt-2:0", group_id="g", text="help text")))

    assert poster.duplicates.sweep() == 0  # the late one has not landed yet
    chat.land_late_posts()
    assert poster.duplicates.sweep() == 1

    assert chat.texts() == ["help text", "help text"]


def test_a_watched_reply_is_forgotten_after_the_watch(
    chat: FakeChat, poster: ReplyPoster, clock: FakeClock
) -> None:
    reply = Reply(key="evt-1:0", group_id="g", text="never lands")
    chat.delay_next = True
    with pytest.raises(NetworkError):
        poster.deliver(Outgoing(reply))
    clock.advance(SETTLE)
    poster.deliver(Outgoing(reply))
    assert list(poster.duplicates.watched()) == ["evt-1:0"]

    clock.advance(WATCH_FOR)
    poster.duplicates.sweep()

    assert poster.duplicates.watched() == {}


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

    assert chat.texts() == ["help text", "help text"]


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


def test_a_later_reply_parks_and_is_sent_again_when_the_earlier_one_is_done(
    chat: FakeChat, poster: ReplyPoster, redis_client: redis.Redis
) -> None:
    poster.turns.handled("g", 1, 1)
    poster.turns.handled("g", 2, 1)
    earlier = _enqueued(poster, Outgoing(Reply(key="evt-1:0", group_id="g", text="first"), 1))
    later = _enqueued(poster, Outgoing(Reply(key="evt-2:0", group_id="g", text="second"), 2))
    redis_client.delete("replies")  # both tasks taken off the queue by workers

    assert poster.deliver(later) is None  # parked: its task ends
    assert redis_client.lrange("replies", 0, -1) == []
    poster.deliver(earlier)

    assert redis_client.lrange("replies", 0, -1) == ["message of evt-2:0"]  # sent again
    poster.deliver(later)
    assert chat.texts() == ["first", "second"]
    assert poster.ledger.size() == 0


def test_a_reply_outside_the_ledger_cannot_park_and_asks_again(poster: ReplyPoster) -> None:
    poster.turns.handled("g", 2, 1)
    stray = Outgoing(Reply(key="evt-2:0", group_id="g", text="second"), 2)

    with pytest.raises(RetryLater):
        poster.deliver(stray)


def test_a_posted_reply_leaves_the_ledger(poster: ReplyPoster) -> None:
    out = _enqueued(poster, Outgoing(Reply(key="evt-1:0", group_id="g", text="hi")))
    assert poster.ledger.entry(reply_entry("evt-1:0")) is not None

    poster.deliver(out)

    assert poster.ledger.entry(reply_entry("evt-1:0")) is None


def test_a_reply_in_flight_is_not_pushed_twice(
    poster: ReplyPoster, redis_client: redis.Redis
) -> None:
    """A handler run twice enqueues the same reply twice: one task is enough."""
    out = Outgoing(Reply(key="evt-1:0", group_id="g", text="hi"))

    assert poster.enqueue(out, Built("t1", "replies", "m1")) is True
    assert poster.enqueue(out, Built("t2", "replies", "m2")) is False

    assert redis_client.lrange("replies", 0, -1) == ["m1"]


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


# -- replies of installed bots --------------------------------------------------------


def test_an_installed_bots_reply_is_posted_with_its_client_and_kept_apart(
    chat: FakeChat, other_chat: FakeChat, poster: ReplyPoster, redis_client: redis.Redis
) -> None:
    """Two bots answer the same post: the same reply key, two replies, each by its bot."""
    reply = Reply(key="evt-1:0", group_id="g", text="hello")

    mine = poster.deliver(_enqueued(poster, Outgoing(reply)))
    theirs = poster.deliver(_enqueued(poster, Outgoing(reply, bot_id=OTHER_BOT)))

    assert (chat.texts(), other_chat.texts()) == (["hello"], ["hello"])
    assert redis_client.hget(KEYS.reply("evt-1:0"), "post_id") == mine
    assert redis_client.hget(KEYS.reply("evt-1:0", OTHER_BOT), "post_id") == theirs
    assert redis_client.smembers(KEYS.reply_claims("g", OTHER_BOT)) == {theirs}
    assert poster.ledger.size() == 0


def test_a_reply_message_without_a_bot_is_the_configured_bots(
    chat: FakeChat, other_chat: FakeChat, poster: ReplyPoster
) -> None:
    """A message written before installations existed posts as it always did."""
    old_message = {"key": "evt-1:0", "group_id": "g", "text": "hi", "attachments": [], "seq": None}

    out = Outgoing.from_json(old_message)
    poster.deliver(out)

    assert out.bot_id is None
    assert "bot_id" not in out.to_json()  # and the configured bot's messages stay the same
    assert (chat.texts(), other_chat.texts()) == (["hi"], [])


def test_a_reply_names_its_bot_in_its_message_and_its_ledger_entry() -> None:
    out = Outgoing(Reply(key="k:0", group_id="g", text="t"), 3, bot_id=OTHER_BOT)

    assert out.to_json()["bot_id"] == OTHER_BOT
    assert Outgoing.from_json(out.to_json()) == out
    assert out.entry_id == reply_entry("k:0", OTHER_BOT) != reply_entry("k:0")


def test_an_installed_bots_lost_answer_is_found_among_its_own_posts(
    other_chat: FakeChat, poster: ReplyPoster
) -> None:
    """Its "own post" check uses its own id, not the configured bot's."""
    reply = Reply(key="evt-1:0", group_id="g", text="booked")
    other_chat.lose_answer_next = True

    with pytest.raises(NetworkError):
        poster.deliver(Outgoing(reply, bot_id=OTHER_BOT))
    post_id = poster.deliver(Outgoing(reply, bot_id=OTHER_BOT))

    assert post_id == other_chat.posts[0]["id"]
    assert other_chat.creates == 1


def test_an_installed_bots_late_duplicate_is_deleted_with_its_client(
    chat: FakeChat,
    other_chat: FakeChat,
    poster: ReplyPoster,
    clock: FakeClock,
    redis_client: redis.Redis,
) -> None:
    reply = Reply(key="evt-1:0", group_id="g", text="booked")
    other_chat.delay_next = True
    with pytest.raises(NetworkError):
        poster.deliver(Outgoing(reply, bot_id=OTHER_BOT))
    clock.advance(SETTLE)
    kept = poster.deliver(Outgoing(reply, bot_id=OTHER_BOT))
    other_chat.land_late_posts()

    assert list(poster.duplicates.watched()) == [f"bot:{OTHER_BOT}:evt-1:0"]
    assert poster.duplicates.sweep() == 1
    assert [p["id"] for p in other_chat.posts] == [kept]
    assert chat.deleted == []
    counters = Counters(redis_client, KEYS.counters, bot_key=KEYS.bot_counters)
    assert counters.of_bot(OTHER_BOT) == {"replies_duplicate_deleted": 1}


def test_a_reply_of_a_bot_that_is_no_installation_is_refused_before_anything_is_marked(
    poster: ReplyPoster, redis_client: redis.Redis
) -> None:
    reply = Reply(key="evt-1:0", group_id="g", text="x")

    with pytest.raises(UnknownInstallationError):
        poster.deliver(Outgoing(reply, bot_id="9999"))

    assert redis_client.hgetall(KEYS.reply("evt-1:0", "9999")) == {}


def test_two_bots_replies_in_one_chat_keep_their_own_order(
    chat: FakeChat, other_chat: FakeChat, poster: ReplyPoster, redis_client: redis.Redis
) -> None:
    """The configured bot's reply to event 1 is not posted yet; the installed bot's is."""
    poster.turns.handled("g", 1, 1)
    poster.turns.handled("g", 2, 1)
    poster.turns.handled("g", 1, 1, bot=OTHER_BOT)
    waiting = _enqueued(poster, Outgoing(Reply(key="evt-2:0", group_id="g", text="second"), 2))
    theirs = _enqueued(
        poster, Outgoing(Reply(key="evt-9:0", group_id="g", text="theirs"), 1, bot_id=OTHER_BOT)
    )
    redis_client.delete("replies")

    assert poster.deliver(waiting) is None  # parked behind the configured bot's (1, 0)
    assert poster.deliver(theirs) is not None

    assert (chat.texts(), other_chat.texts()) == ([], ["theirs"])


def _held(poster: ReplyPoster, out: Outgoing) -> Outgoing:
    """``out`` recorded in the ledger but not queued, as ``hold_reply`` does."""
    poster.enqueue(out, Built(f"task-{out.key}", "replies", f"message of {out.key}"), push=False)
    return out


def _free() -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext()


def test_replies_whose_turn_and_slot_are_free_are_posted_at_once_without_a_task(
    chat: FakeChat, poster: ReplyPoster, redis_client: redis.Redis
) -> None:
    poster.turns.handled("g", 1, 2)
    outs = [
        _held(poster, Outgoing(Reply(key="evt-1:0", group_id="g", text="one"), 1)),
        _held(poster, Outgoing(Reply(key="evt-1:1", group_id="g", text="two"), 1)),
    ]

    posted = poster.send(outs, _free)

    assert [out.key for out, _ in posted] == ["evt-1:0", "evt-1:1"]
    assert chat.texts() == ["one", "two"]
    assert redis_client.lrange("replies", 0, -1) == []  # no post_reply task at all
    assert poster.ledger.size() == 0
    assert poster.send(outs, _free) == []  # the event handled again: nothing posted again
    assert chat.texts() == ["one", "two"]


def test_a_reply_without_a_free_slot_goes_to_the_queue_with_the_ones_after_it(
    chat: FakeChat, poster: ReplyPoster, redis_client: redis.Redis
) -> None:
    poster.turns.handled("g", 1, 2)
    outs = [
        _held(poster, Outgoing(Reply(key="evt-1:0", group_id="g", text="one"), 1)),
        _held(poster, Outgoing(Reply(key="evt-1:1", group_id="g", text="two"), 1)),
    ]
    chat.fail_next = RateLimitedError("no slot now", retry_after=3.0)

    assert poster.send(outs, _free) == []

    assert chat.texts() == []
    assert redis_client.lrange("replies", 0, -1) == ["message of evt-1:1", "message of evt-1:0"]
    assert redis_client.hgetall(KEYS.reply("evt-1:0")) == {}  # refused: not pending
    assert poster.ledger.deadline(outs[0].entry_id) is not None  # the reaper still watches


def test_a_reply_whose_turn_is_held_by_an_earlier_event_parks_and_is_not_queued(
    chat: FakeChat, poster: ReplyPoster, redis_client: redis.Redis
) -> None:
    poster.turns.handled("g", 1, 1)
    poster.turns.handled("g", 2, 1)
    earlier = _enqueued(poster, Outgoing(Reply(key="evt-1:0", group_id="g", text="first"), 1))
    redis_client.delete("replies")  # a worker holds it, not done yet
    later = _held(poster, Outgoing(Reply(key="evt-2:0", group_id="g", text="second"), 2))

    assert poster.send([later], _free) == []  # parked
    assert redis_client.lrange("replies", 0, -1) == []
    poster.deliver(earlier)  # passes the turn on: the parked reply is sent

    assert redis_client.lrange("replies", 0, -1) == ["message of evt-2:0"]
    poster.deliver(later)
    assert chat.texts() == ["first", "second"]


def _task_message(out: Outgoing) -> str:
    """A ``post_reply`` message of ``out`` as it lies on a queue (Celery's protocol 2)."""
    body = json.dumps([[out.to_json()], {}, {}]).encode()
    properties = {"body_encoding": "base64"}
    return json.dumps({"body": base64.b64encode(body).decode(), "properties": properties})


def _parked_with_message(poster: ReplyPoster, out: Outgoing) -> Outgoing:
    """``out`` recorded with a real task message, tried once: it parks."""
    poster.enqueue(out, Built(f"task-{out.key}", "replies", _task_message(out)), push=False)
    assert poster.send([out], _free) == []
    return out


def _first_and_parked_second(poster: ReplyPoster) -> tuple[Outgoing, Outgoing]:
    """Events 1 and 2 of chat g handled, a reply each: the first recorded, the second parked."""
    poster.turns.handled("g", 1, 1)
    poster.turns.handled("g", 2, 1)
    first = _held(poster, Outgoing(Reply(key="evt-1:0", group_id="g", text="first"), 1))
    second = _parked_with_message(
        poster, Outgoing(Reply(key="evt-2:0", group_id="g", text="second"), 2)
    )
    return first, second


def test_a_post_hands_the_chats_next_parked_reply_to_its_caller_not_to_the_queue(
    chat: FakeChat, poster: ReplyPoster, redis_client: redis.Redis
) -> None:
    earlier, later = _first_and_parked_second(poster)
    handed: list[Outgoing] = []

    assert poster.deliver(earlier, handover=handed) is not None

    assert [(out.key, out.seq, out.reply.text) for out in handed] == [("evt-2:0", 2, "second")]
    assert redis_client.lrange("replies", 0, -1) == []
    assert poster.ledger.deadline(later.entry_id) is not None  # the reaper watches it meanwhile
    assert [out.key for out, _ in poster.send(handed, _free)] == ["evt-2:0"]
    assert chat.texts() == ["first", "second"]
    assert poster.ledger.size() == 0


def test_a_busy_chat_drains_in_one_send_in_its_order(
    chat: FakeChat, poster: ReplyPoster, redis_client: redis.Redis
) -> None:
    for seq in (1, 2, 3, 4):
        poster.turns.handled("g", seq, 1)
    first = _held(poster, Outgoing(Reply(key="evt-1:0", group_id="g", text="1"), 1))
    for seq in (4, 2, 3):  # their events were handled first, in any order
        _parked_with_message(
            poster, Outgoing(Reply(key=f"evt-{seq}:0", group_id="g", text=str(seq)), seq)
        )

    posted = poster.send([first], _free)

    assert [out.key for out, _ in posted] == ["evt-1:0", "evt-2:0", "evt-3:0", "evt-4:0"]
    assert chat.texts() == ["1", "2", "3", "4"]
    assert redis_client.lrange("replies", 0, -1) == []
    assert poster.ledger.size() == 0


def test_a_handed_reply_that_cannot_post_now_goes_to_the_queue(
    chat: FakeChat, poster: ReplyPoster, redis_client: redis.Redis
) -> None:
    first, later = _first_and_parked_second(poster)
    original = chat.create_post

    def refuse_the_second(*args: Any, **kwargs: Any) -> dict[str, Any]:
        if chat.posts:
            raise RateLimitedError("no slot now", retry_after=3.0)
        return original(*args, **kwargs)

    chat.create_post = refuse_the_second  # type: ignore[method-assign]

    assert [out.key for out, _ in poster.send([first], _free)] == ["evt-1:0"]

    assert redis_client.lrange("replies", 0, -1) == [_task_message(later)]
    assert poster.ledger.entry(later.entry_id) is not None


def test_a_handed_reply_whose_message_cannot_be_read_is_queued_as_it_is(
    chat: FakeChat, poster: ReplyPoster, redis_client: redis.Redis
) -> None:
    poster.turns.handled("g", 1, 1)
    poster.turns.handled("g", 2, 1)
    first = _held(poster, Outgoing(Reply(key="evt-1:0", group_id="g", text="first"), 1))
    later = _held(poster, Outgoing(Reply(key="evt-2:0", group_id="g", text="second"), 2))
    assert poster.send([later], _free) == []  # parked, with a message that is no task's
    handed: list[Outgoing] = []

    poster.deliver(first, handover=handed)

    assert handed == []
    assert redis_client.lrange("replies", 0, -1) == ["message of evt-2:0"]


def test_an_inline_reply_costs_one_redis_call_each_side_of_its_post(
    chat: FakeChat, poster: ReplyPoster, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    poster.turns.handled("g", 1, 1)
    warm = _held(poster, Outgoing(Reply(key="evt-0:0", group_id="h", text="zero")))
    poster.send([warm], _free)  # the scripts loaded once, as in a running worker
    out = _held(poster, Outgoing(Reply(key="evt-1:0", group_id="g", text="one"), 1))
    calls = record_calls(redis_client, monkeypatch)

    assert len(poster.send([out], _free)) == 1

    assert calls == ["EVALSHA", "EVALSHA"]
    assert chat.texts() == ["zero", "one"]


def test_past_its_budget_a_send_leaves_the_chats_next_reply_to_the_queue(
    chat: FakeChat, poster: ReplyPoster, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, later = _first_and_parked_second(poster)
    monkeypatch.setattr("worker.replies.HANDOVER_BUDGET", 0.0)

    assert [out.key for out, _ in poster.send([first], _free)] == ["evt-1:0"]

    assert redis_client.lrange("replies", 0, -1) == [_task_message(later)]
    assert chat.texts() == ["first"]
