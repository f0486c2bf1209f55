"""The PubNub stand-in's hub: timetokens, retention, catch-up reads, controls."""

from __future__ import annotations

import asyncio
import json

import pytest

from sandbox.pubnub import PubNubHub
from sandbox.pubnub.hub import MAX_BATCH

KEY = "sub-key"
START = 1_700_000_000.0  # epoch seconds


class FakeClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _messages(frames: list[str]) -> list[dict[str, object]]:
    return [json.loads(frame) for frame in frames]


def _payloads(frames: list[str]) -> list[object]:
    return [message["d"] for message in _messages(frames)]


def test_timetokens_are_17_digit_ticks_of_100ns_and_strictly_increasing() -> None:
    clock = FakeClock()
    hub = PubNubHub(clock=clock)

    handshake = hub.current_timetoken()
    published = [int(hub.publish(KEY, "ch", n)) for n in range(3)]

    assert handshake == int(START * 10_000_000)
    assert len(str(handshake)) == 17
    # The clock stood still: each publish still gets a later timetoken than
    # the cursor handed out before it.
    assert published == [handshake + 1, handshake + 2, handshake + 3]
    assert hub.current_timetoken() == handshake + 3


def test_a_message_carries_the_fields_the_sdk_requires() -> None:
    hub = PubNubHub()

    timetoken = hub.publish(KEY, "ch", "Y2lwaGVy", publisher="rc", meta={"m": 1})
    frames, cursor = hub.read(KEY, ["ch"], 0)

    assert _messages(frames) == [
        {
            "c": "ch",
            "d": "Y2lwaGVy",
            "f": 0,
            "k": KEY,
            "i": "rc",
            "u": {"m": 1},
            "p": {"t": timetoken, "r": 1},
        }
    ]
    assert str(cursor) == timetoken


def test_read_answers_messages_newer_than_the_cursor_oldest_first_at_most_100() -> None:
    hub = PubNubHub(retention_count=1000)
    before = hub.current_timetoken()
    for n in range(250):
        hub.publish(KEY, "ch", n)

    received: list[object] = []
    cursor = before
    batches = 0
    while True:
        frames, cursor = hub.read(KEY, ["ch"], cursor)
        if not frames:
            break
        assert len(frames) <= MAX_BATCH
        received += _payloads(frames)
        batches += 1

    assert received == list(range(250))
    assert batches == 3


def test_read_merges_several_channels_by_timetoken() -> None:
    hub = PubNubHub()
    before = hub.current_timetoken()
    for n, channel in enumerate(["a", "b", "a", "c", "b"]):
        hub.publish(KEY, channel, n)

    frames, _ = hub.read(KEY, ["a", "b"], before)

    assert _payloads(frames) == [0, 1, 2, 4]


def test_channels_are_scoped_by_subscribe_key() -> None:
    hub = PubNubHub()
    hub.publish("other-key", "ch", "not yours")

    assert hub.read(KEY, ["ch"], 0) == ([], 0)


def test_retention_keeps_the_last_count_messages_per_channel() -> None:
    hub = PubNubHub(retention_count=5)
    before = hub.current_timetoken()
    for n in range(12):
        hub.publish(KEY, "ch", n)
    hub.publish(KEY, "other", "x")

    frames, _ = hub.read(KEY, ["ch"], before)

    assert _payloads(frames) == [7, 8, 9, 10, 11]


def test_retention_drops_messages_older_than_retention_seconds() -> None:
    clock = FakeClock()
    hub = PubNubHub(retention_seconds=60, clock=clock)
    before = hub.current_timetoken()
    hub.publish(KEY, "ch", "old")
    clock.now += 30
    hub.publish(KEY, "ch", "recent")

    clock.now += 31  # "old" is now 61 s old, "recent" 31 s

    frames, _ = hub.read(KEY, ["ch"], before)
    assert _payloads(frames) == ["recent"]


def test_paused_hub_retains_but_delivers_nothing_until_resumed() -> None:
    hub = PubNubHub()
    before = hub.current_timetoken()
    hub.pause()
    hub.publish(KEY, "ch", "held back")

    assert hub.read(KEY, ["ch"], before) == ([], before)

    hub.resume()
    frames, _ = hub.read(KEY, ["ch"], before)
    assert _payloads(frames) == ["held back"]


def test_duplicate_next_sends_the_next_publishes_twice_with_consecutive_timetokens() -> None:
    hub = PubNubHub()
    before = hub.current_timetoken()
    hub.duplicate_next(2)
    for payload in ["one", "two", "three"]:
        hub.publish(KEY, "ch", payload)

    messages = _messages(hub.read(KEY, ["ch"], before)[0])

    assert [m["d"] for m in messages] == ["one", "one", "two", "two", "three"]
    first, second = (int(m["p"]["t"]) for m in messages[:2])  # type: ignore[index]
    assert second == first + 1


def test_reset_drops_messages_and_flags_but_timetokens_keep_increasing() -> None:
    hub = PubNubHub()
    hub.publish(KEY, "ch", "gone")
    hub.pause()
    hub.duplicate_next()
    last = hub.current_timetoken()

    hub.reset()
    published = hub.publish(KEY, "ch", "after")

    assert not hub.paused
    assert _payloads(hub.read(KEY, ["ch"], 0)[0]) == ["after"]
    assert int(published) > last


@pytest.mark.parametrize(
    "kwargs", [{"retention_count": 0}, {"retention_seconds": 0}, {"hold_seconds": 0}]
)
def test_settings_that_would_lose_live_messages_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        PubNubHub(**kwargs)  # type: ignore[arg-type]


def test_a_publish_wakes_only_the_waiters_of_its_channel() -> None:
    async def scenario() -> tuple[bool, bool]:
        hub = PubNubHub()
        on_a = asyncio.create_task(hub.wait_for_publish(KEY, ["a", "b"], timeout=5))
        on_c = asyncio.create_task(hub.wait_for_publish(KEY, ["c"], timeout=0.2))
        await asyncio.sleep(0.01)
        hub.publish(KEY, "b", "wake up")
        return await on_a, await on_c

    assert asyncio.run(scenario()) == (True, False)


def test_waiting_on_unused_channels_leaves_nothing_behind() -> None:
    async def scenario() -> PubNubHub:
        hub = PubNubHub()
        await hub.wait_for_publish(KEY, [f"ch{n}" for n in range(100)], timeout=0.01)
        return hub

    assert asyncio.run(scenario())._channels == {}


def test_a_cursor_from_before_a_restart_still_catches_up_on_a_new_hub() -> None:
    before_restart = PubNubHub().current_timetoken()

    restarted = PubNubHub()
    restarted.publish(KEY, "ch", "after the restart")

    assert _payloads(restarted.read(KEY, ["ch"], before_restart)[0]) == ["after the restart"]
