"""Four worker processes share one rate limit: the platform's, never more, hardly less."""

from __future__ import annotations

from datetime import datetime

import pytest

from glipbot.bot import Reply
from tests.support.stack import BOT_ID, Stack
from worker.replies import Outgoing

LIMIT = 20  # requests per window in the Light group (POST /glip/posts)
WINDOW = 2.0  # seconds
REPLIES = 200


@pytest.fixture(scope="module")
def stack(start_stack: object) -> Stack:
    return start_stack(  # type: ignore[operator, no-any-return]
        sandbox_args=("--rate-window", f"{WINDOW:g}", "--rate-limit", f"Light={LIMIT}"),
        workers=4,
        listener=False,
        env={"RATE_LIMITS": f"Light={LIMIT}/{WINDOW:g}"},
    )


def _posted(line: dict[str, object]) -> bool:
    return line.get("event") == "reply_posted"


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_four_workers_post_200_replies_at_the_platform_limit_without_a_429(stack: Stack) -> None:
    """200 ``post_reply`` tasks, four workers, a sandbox limit of 20 posts per 2 s.

    All 200 replies are delivered, the sandbox never answers 429, and the
    achieved rate is at least 95 % of the limit (10 posts/s) and not above it.

    How the rate is measured, on the sandbox's request recorder (the time each
    ``POST /glip/posts`` was answered 200): the first 20 posts go out at once,
    because the window starts empty, so they say nothing about the sustained
    rate. The steady rate is the posts after them divided by the time they
    took: ``(n - 20) / (t[n-1] - t[19])``, i.e. whole windows' worth of
    posts over the time those windows lasted. (The naive ``(n-1) / (t_last -
    t_first)`` counts the free initial burst and reads about 11 % high even
    for a perfect limiter; it is printed for comparison.)
    """
    chat_id = str(
        stack.john.post("/glip/groups", json={"type": "PrivateChat", "members": [BOT_ID]}).json()[
            "id"
        ]
    )
    texts = [f"reply {n:03d}" for n in range(REPLIES)]
    for n, text in enumerate(texts):
        reply = Outgoing(Reply(f"rate-test:{n}:0", chat_id, text))
        stack.send_task("tasks.replies.post_reply", reply.to_json())

    posted = stack.wait_bot_texts(chat_id, REPLIES, timeout=REPLIES / (LIMIT / WINDOW) + 30)

    assert sorted(posted) == texts
    assert sorted(text for who, text in stack.chat_texts(chat_id) if who == BOT_ID) == texts
    refused = [r for r in stack.sandbox.control.requests() if r["status"] == 429]
    assert refused == []
    idle = [w.name for w in stack.workers if not any(_posted(line) for line in w.json_lines())]
    assert idle == [], "every one of the four workers posts"

    times = sorted(_epoch(r["time"]) for r in stack.bot_posts(chat_id))
    steady = (len(times) - LIMIT) / (times[-1] - times[LIMIT - 1])
    naive = (len(times) - 1) / (times[-1] - times[0])
    limit_rate = LIMIT / WINDOW
    print(f"steady {steady:.2f}/s, naive {naive:.2f}/s, limit {limit_rate:.2f}/s")
    assert 0.95 * limit_rate <= steady <= 1.02 * limit_rate
