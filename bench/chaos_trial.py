"""One fault of the matrix, run on requests of its own, and counted from the chat.

A :class:`Trial` opens a fresh Team chat of John Smith and SmartFriend (the
bot answers there without a mention), lets a fault send John's requests
(``convert <amount> USD to EUR``, each amount unique in the whole run, so
each answer names the request it answers) while it breaks something, waits
for the system to settle, and counts the chat as John sees it through the
REST API: each request answered once, not at all (lost), more than once
(doubled), and how many answers stand out of the requests' order. A trial
knows the stack's transport (:data:`PUBNUB` or :data:`WEBSOCKET`), so that
a fault can strike the channel the listener actually listens on.
"""

from __future__ import annotations

import bisect
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import redis

from devtools.cluster import Cluster
from devtools.processes import wait_for
from glipbot.state.keys import Keys
from sandbox.testing import Person

#: The listener's transports (``NOTIFICATION_TRANSPORT``), as the matrix names them.
PUBNUB = "pubnub"
WEBSOCKET = "websocket"
TRANSPORTS = (PUBNUB, WEBSOCKET)

BOT_ID = "400000001"
JOHN = ("john.smith@sandbox.test", "john")
POSTS = "/restapi/v1.0/glip/posts"
#: SmartFriend's answer to "convert N USD to EUR" starts with "N.00 USD = " (N with commas).
ANSWER = re.compile(r"^([\d,]+)\.\d\d USD = ")
#: Seconds between two of John's requests: a stream, not a burst.
SPACING = 0.1
#: How often the settle loop looks (the sandbox's recorder and Redis: no rate limit).
POLL = 0.25
GREETING_TIMEOUT = 30.0


@dataclass
class Outcome:
    """One line of the matrix."""

    fault: str
    sent: int = 0
    once: int = 0
    lost: int = 0
    doubled: int = 0
    out_of_order: int = 0
    #: Seconds from the fault's end to every request answered and nothing in flight;
    #: None when that did not happen within the fault's settle timeout.
    settle: float | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    #: Why the fault did not run over this transport (None: it ran).
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing doubled, and the fault itself ran (or did not apply)."""
        return self.error is None and self.lost == 0 and self.doubled == 0


class Trial:
    """The chat, the requests and the clock of one fault."""

    def __init__(
        self,
        cluster: Cluster,
        john: Person,
        amounts: list[int],
        name: str,
        pubnub_pause: float,
        transport: str = PUBNUB,
    ) -> None:
        self.cluster = cluster
        self.control = cluster.sandbox.control
        self.john = john
        self.amounts = amounts
        self.pubnub_pause = pubnub_pause
        #: How the listeners receive notifications: :data:`PUBNUB` or :data:`WEBSOCKET`.
        self.transport = transport
        self.notes: list[str] = []
        self._sent = 0
        self._keys = Keys.from_settings(cluster.settings)
        self.control.clear_requests()  # keeps the settle loop's reads small
        team = john.post("/glip/groups", json={"type": "Team", "name": name, "members": [BOT_ID]})
        team.raise_for_status()
        self.chat_id = str(team.json()["id"])
        # The greeting goes out before any fault, so that it is not what a fault meets.
        wait_for(lambda: self._bot_posts(), GREETING_TIMEOUT, POLL)

    # -- what a fault calls -------------------------------------------------------

    @property
    def remaining(self) -> int:
        """How many requests John has not sent yet."""
        return len(self.amounts) - self._sent

    def ask(self, count: int) -> None:
        """John sends his next ``count`` requests, one every :data:`SPACING` seconds."""
        for amount in self.amounts[self._sent : self._sent + count]:
            resp = self.john.post(
                "/glip/posts",
                json={"groupId": self.chat_id, "text": f"convert {amount} USD to EUR"},
            )
            resp.raise_for_status()
            self._sent += 1
            time.sleep(SPACING)

    def ask_third(self) -> None:
        """John sends the first third of his requests: the fault strikes mid-stream."""
        self.ask(max(1, len(self.amounts) // 3))

    def ask_rest(self) -> None:
        """John sends whatever he has not sent yet."""
        self.ask(self.remaining)

    def answered(self) -> list[int]:
        """The amounts the bot's answers in this chat name, as the platform took them."""
        return [
            amount
            for record in self._bot_posts()
            if record["method"] == "POST" and record["status"] == 200
            for amount in _amount(record["body"].get("text", ""))
        ]

    def note(self, text: str) -> None:
        """Add a remark to the fault's line (who was killed, how long a takeover took)."""
        self.notes.append(text)

    # -- settling and counting ------------------------------------------------------

    def settle(self, timeout: float, quiet: float) -> float | None:
        """Wait until every request is answered, no work is in flight, and the chat has
        not changed for ``quiet`` seconds; the seconds until then (not counting the quiet
        period), or None after ``timeout``."""
        started = time.monotonic()
        wanted = set(self.amounts)
        last_change, last_seen = started, -1
        settled_at: float | None = None
        while True:
            now = time.monotonic()
            seen = len(self._bot_posts())
            if seen != last_seen:
                last_change, last_seen, settled_at = now, seen, None
            if settled_at is None and wanted <= set(self.answered()) and self._nothing_in_flight():
                settled_at = now
            if settled_at is not None and now - last_change >= quiet:
                return settled_at - started
            if now - started > timeout:
                return None
            time.sleep(POLL)

    def count(self, outcome: Outcome) -> Outcome:
        """Fill ``outcome`` from the chat as John reads it."""
        shown = [
            a
            for post in self._chat_posts()
            if post["creatorId"] == BOT_ID
            for a in _amount(post.get("text") or "")
        ]
        times = Counter(shown)
        outcome.sent = self._sent
        outcome.once = sum(1 for a in self.amounts if times[a] == 1)
        outcome.lost = sum(1 for a in self.amounts if times[a] == 0)
        outcome.doubled = sum(1 for a in self.amounts if times[a] > 1)
        outcome.out_of_order = out_of_order(self.amounts, shown)
        outcome.notes.extend(self.notes)
        return outcome

    def _nothing_in_flight(self) -> bool:
        try:
            return int(self.cluster.redis.hlen(self._keys.ledger_entries)) == 0
        except redis.RedisError:  # restarting: not settled yet
            return False

    def _bot_posts(self) -> list[dict[str, Any]]:
        """The bot's recorded POSTs to this chat and DELETEs of its posts, oldest first."""
        deletes = f"/restapi/v1.0/glip/chats/{self.chat_id}/posts/"
        return [
            r
            for r in self.control.requests()
            if r["who"] == BOT_ID
            and (
                (
                    r["path"] == POSTS
                    and r["method"] == "POST"
                    and (r.get("body") or {}).get("groupId") == self.chat_id
                )
                or (r["method"] == "DELETE" and r["path"].startswith(deletes))
            )
        ]

    def _chat_posts(self) -> list[dict[str, Any]]:
        """Every post of the chat, oldest first, through the REST API as John."""
        posts: list[dict[str, Any]] = []
        params: dict[str, Any] = {"groupId": self.chat_id, "recordCount": 250}
        while True:
            resp = self.john.get("/glip/posts", params=params)
            resp.raise_for_status()
            body = resp.json()
            posts.extend(body["records"])
            token = (body.get("navigation") or {}).get("nextPageToken")
            if not token:
                return list(reversed(posts))
            params["pageToken"] = token


def _amount(text: str) -> list[int]:
    match = ANSWER.match(text)
    return [int(match.group(1).replace(",", ""))] if match else []


def out_of_order(requested: list[int], shown: list[int]) -> int:
    """How many answers stand out of the requests' order: the fewest that would have to
    move for the answers (first of each) to follow the requests (len minus the longest
    increasing run of request positions)."""
    position = {amount: i for i, amount in enumerate(requested)}
    firsts = list(dict.fromkeys(a for a in shown if a in position))
    tails: list[int] = []
    for index in (position[a] for a in firsts):
        at = bisect.bisect_left(tails, index)
        if at == len(tails):
            tails.append(index)
        else:
            tails[at] = index
    return len(firsts) - len(tails)
