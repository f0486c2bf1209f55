"""The worker-killed fault kills the worker whose POST hangs, whichever task posts it."""

from __future__ import annotations

from bench.chaos_faults import posting_node
from glipbot.contracts import HANDLE_EVENT, POST_REPLY


def _task(name: str, started: float) -> dict[str, object]:
    return {"name": name, "time_start": started, "id": f"{name}@{started}"}


def test_a_reply_posted_by_handle_event_itself_is_found() -> None:
    """Since replies are posted inline, the hanging POST is most often in a handle_event."""
    active = {"w1@h": [], "w2@h": [_task(HANDLE_EVENT, 100.0)], "w3@h": []}

    assert posting_node(active) == "w2@h"


def test_the_task_running_longest_is_the_one_whose_post_hangs() -> None:
    active = {
        "w1@h": [_task(HANDLE_EVENT, 130.5)],
        "w2@h": [_task(POST_REPLY, 101.0)],
        "w3@h": [_task(HANDLE_EVENT, 130.7), _task("tasks.ops.reap", 90.0)],
    }

    assert posting_node(active) == "w2@h"


def test_no_posting_task_no_holder() -> None:
    assert posting_node({"w1@h": [_task("tasks.ops.canary", 1.0)], "w2@h": []}) is None
    assert posting_node({}) is None
