"""listener.backfill: after a deaf window, the posts and chats it missed, from the REST API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from glipbot.events import GroupEvent, PostEvent, parse_event
from listener.backfill import Backfill, Limits

BOT = "9001"
JOHN = "1001"
NOW = 1_800_000_000.0


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


class FakeChats:
    """Chats and their posts, paged newest first like ``GET /glip/posts``."""

    def __init__(self, page_size_cap: int = 250) -> None:
        self.posts: dict[str, list[dict[str, Any]]] = {}
        self.groups: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str | None]] = []
        self._cap = page_size_cap

    def post(self, chat: str, at: float, text: str, creator: str = JOHN) -> None:
        chat_posts = self.posts.setdefault(chat, [])
        chat_posts.append(
            {
                "id": f"p{len(chat_posts) + 1}-{chat}",
                "groupId": chat,
                "type": "TextMessage",
                "text": text,
                "creatorId": creator,
                "creationTime": _iso(at),
            }
        )

    def group(self, chat: str, at: float) -> None:
        self.groups.append(
            {
                "id": chat,
                "type": "PrivateChat",
                "members": [JOHN, BOT],
                "lastModifiedTime": _iso(at),
            }
        )

    def list_posts(
        self, group_id: str, record_count: int = 30, page_token: str | None = None
    ) -> dict[str, Any]:
        self.calls.append((group_id, page_token))
        newest_first = list(reversed(self.posts.get(group_id, [])))
        start = int(page_token or 0)
        page = newest_first[start : start + min(record_count, self._cap)]
        more = start + len(page) < len(newest_first)
        navigation = {"nextPageToken": str(start + len(page))} if more else {}
        return {"records": page, "navigation": navigation}

    def iter_groups(self, types: Any = ()) -> list[dict[str, Any]]:
        return self.groups


def _texts(envelopes: list[dict[str, Any]]) -> list[str]:
    return [str(e["body"].get("text")) for e in envelopes if e["body"]["eventType"] == "PostAdded"]


def test_it_finds_the_posts_after_each_chats_last_seen_event_oldest_first() -> None:
    chats = FakeChats()
    chats.post("g1", NOW - 600, "seen long ago")
    chats.post("g1", NOW - 30, "missed 1")
    chats.post("g1", NOW - 20, "missed 2")
    backfill = Backfill(chats, lambda: BOT, limits=Limits(overlap=0))

    found = backfill.missed({"g1": NOW - 600}, since=NOW - 60, now=NOW)

    assert _texts(found.envelopes) == ["missed 1", "missed 2"]
    assert (found.chats, found.posts, found.groups, found.truncated) == (1, 2, 0, 0)


def test_a_chat_heard_after_the_window_began_is_read_down_to_the_windows_start() -> None:
    """A full PubNub answer brought the chat's newest messages; the older ones were dropped."""
    chats = FakeChats()
    chats.post("g1", NOW - 50, "dropped 1")
    chats.post("g1", NOW - 40, "dropped 2")
    chats.post("g1", NOW - 10, "delivered")
    backfill = Backfill(chats, lambda: BOT, limits=Limits(overlap=0))

    found = backfill.missed({"g1": NOW - 10}, since=NOW - 60, now=NOW)

    assert _texts(found.envelopes) == ["dropped 1", "dropped 2", "delivered"]


def test_recovered_posts_are_notifications_the_pipeline_accepts() -> None:
    chats = FakeChats()
    chats.post("g1", NOW - 10, "book me a flight")
    found = Backfill(chats, lambda: BOT).missed({"g1": NOW - 100}, since=NOW - 100, now=NOW)

    event = parse_event(found.envelopes[0])

    assert isinstance(event, PostEvent)
    assert (event.post.id, event.post.text, event.envelope.uuid) == (
        "p1-g1",
        "book me a flight",
        "backfill-post-p1-g1",
    )


def test_the_bots_own_posts_are_not_recovered() -> None:
    chats = FakeChats()
    chats.post("g1", NOW - 10, "my own answer", creator=BOT)
    found = Backfill(chats, lambda: BOT).missed({"g1": NOW - 100}, since=NOW - 100, now=NOW)

    assert found.envelopes == []


def test_a_chat_joined_during_the_window_gets_its_group_joined_and_its_posts() -> None:
    chats = FakeChats()
    chats.group("old", NOW - 5000)
    chats.group("new", NOW - 30)
    chats.post("new", NOW - 20, "hi bot")
    backfill = Backfill(chats, lambda: BOT, limits=Limits(overlap=0))

    found = backfill.missed({"known": NOW - 100}, since=NOW - 60, now=NOW)
    kinds = [(e["body"]["eventType"], e["body"].get("id")) for e in found.envelopes]

    assert kinds == [("GroupJoined", "new"), ("PostAdded", "p1-new")]
    assert isinstance(parse_event(found.envelopes[0]), GroupEvent)


def test_chats_quiet_past_the_horizon_are_not_read() -> None:
    chats = FakeChats()
    backfill = Backfill(chats, lambda: BOT, limits=Limits(horizon=3600))

    backfill.missed({"quiet": NOW - 7200, "busy": NOW - 60}, since=NOW - 60, now=NOW)

    assert [chat for chat, _ in chats.calls] == ["busy"]


def test_the_work_is_bounded_and_what_was_cut_is_counted() -> None:
    chats = FakeChats()
    for n in range(30):
        chats.post("g1", NOW - 30 + n / 10, f"missed {n}")
    limits = Limits(max_pages=2, page_size=10, max_chats=1, overlap=0)

    found = Backfill(chats, lambda: BOT, limits=limits).missed(
        {"g1": NOW - 100, "g2": NOW - 200}, since=NOW - 100, now=NOW
    )

    assert found.pages == 2
    assert _texts(found.envelopes) == [f"missed {n}" for n in range(10, 30)]
    assert found.truncated == 2  # g1's gap was longer than two pages; g2 was not read
