"""The message store behind the PubNub stand-in: timetokens, retention, wake-ups.

A `PubNubHub` lives on one asyncio loop. `publish` is synchronous so that
the REST side can call it from its own coroutines; held long-polls wait on
per-channel futures that `publish` resolves.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import time
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

#: Region reported in every cursor and publish metadata. The real service
#: answers the region of the data centre; a single-node stand-in has one.
REGION = 1
#: How many answered requests `PubNubHub.requests` remembers.
RECORDED_REQUESTS = 1000
#: Most messages in one subscribe response, as the real service.
MAX_BATCH = 100
_TICKS_PER_SECOND = 10_000_000  # a timetoken counts 100-ns ticks


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One HTTP request the protocol server answered, for tests to assert on."""

    method: str
    path: str  # raw, still percent-encoded
    query: dict[str, str]
    status: int


class _Channel:
    """Retained messages of one channel (oldest first) and its held waiters."""

    __slots__ = ("frames", "timetokens", "waiters")

    def __init__(self) -> None:
        self.timetokens: list[int] = []
        self.frames: list[str] = []  # each message pre-serialized once, shared by all readers
        self.waiters: set[asyncio.Future[None]] = set()


class PubNubHub:
    """Channels, retained messages and delivery controls of the PubNub stand-in.

    Channels are scoped by subscribe key, as on the real service. Each
    channel keeps its last `retention_count` messages for at most
    `retention_seconds`; subscribers catch up from there. `clock` returns
    seconds since the epoch (as the rest of the sandbox) and is injectable
    so that expiry can be tested.
    """

    def __init__(
        self,
        *,
        hold_seconds: float = 20.0,
        retention_count: int = 100,
        retention_seconds: float = 1200.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if hold_seconds <= 0 or retention_count < 1 or retention_seconds <= 0:
            # Live delivery is read from the retention buffer, so it must hold
            # at least the message that woke a waiter.
            raise ValueError("hold_seconds, retention_count and retention_seconds must be > 0")
        self.hold_seconds = hold_seconds
        self.retention_count = retention_count
        self.retention_seconds = retention_seconds
        self._clock = clock
        self._channels: dict[tuple[str, str], _Channel] = {}
        self._last_timetoken = 0
        self._duplicates = 0
        self.paused = False
        #: The last `RECORDED_REQUESTS` requests served over this hub, oldest first.
        self.requests: deque[RecordedRequest] = deque(maxlen=RECORDED_REQUESTS)

    # -- timetokens ---------------------------------------------------------

    def _tick(self) -> int:
        return int(self._clock() * _TICKS_PER_SECOND)

    def current_timetoken(self) -> int:
        """The time now as a timetoken; every later publish gets a greater one.

        Cursors are wall-clock based, so a client's cursor stays meaningful
        across a server restart.
        """
        self._last_timetoken = max(self._tick(), self._last_timetoken)
        return self._last_timetoken

    def _next_timetoken(self) -> int:
        self._last_timetoken = max(self._tick(), self._last_timetoken + 1)
        return self._last_timetoken

    # -- publishing ---------------------------------------------------------

    def publish(
        self,
        subscribe_key: str,
        channel: str,
        message: object,
        *,
        publisher: str | None = None,
        meta: object = None,
        custom_message_type: str | None = None,
    ) -> str:
        """Retain `message` on `channel` and wake its subscribers.

        Returns the publish timetoken (17 digits, as a string). `message` is
        any JSON value; `publisher` becomes the message's `i` field, `meta`
        its `u` and `custom_message_type` its `cmt`, as on the real service.
        Call it on the hub's loop thread. Raises `TypeError` or `ValueError`
        for a message that is not JSON.
        """
        record: dict[str, object] = {"c": channel, "d": message, "f": 0, "k": subscribe_key}
        if publisher is not None:
            record["i"] = publisher
        if meta is not None:
            record["u"] = meta
        if custom_message_type is not None:
            record["cmt"] = custom_message_type
        # ASCII-escaped: a lone surrogate published over HTTP must not break encoding.
        payload = json.dumps(record, separators=(",", ":"), allow_nan=False)
        payload = payload[:-1]  # the publish metadata is appended per copy
        copies = 1
        if self._duplicates:
            self._duplicates -= 1
            copies = 2
        state = self._channels.setdefault((subscribe_key, channel), _Channel())
        first = self._next_timetoken()
        for timetoken in range(first, first + copies):
            state.timetokens.append(timetoken)
            state.frames.append(f'{payload},"p":{{"t":"{timetoken}","r":{REGION}}}}}')
        self._last_timetoken = first + copies - 1
        self._compact(state)
        if not self.paused:
            self._wake(state)
        return str(first)

    def _compact(self, state: _Channel) -> None:
        # Trimming only once the buffer doubles keeps publish amortised O(1);
        # readers never look past the last `retention_count` entries anyway.
        if len(state.timetokens) >= 2 * self.retention_count:
            del state.timetokens[: -self.retention_count]
            del state.frames[: -self.retention_count]

    # -- reading ------------------------------------------------------------

    def read(
        self, subscribe_key: str, channels: Iterable[str], after: int
    ) -> tuple[list[str], int]:
        """Up to `MAX_BATCH` retained messages newer than `after`, oldest first.

        Returns the serialized messages and the cursor to answer: the
        timetoken of the last message included, or `after` when there is
        none. While paused nothing is delivered.
        """
        if self.paused:
            return [], after
        oldest = self._tick() - int(self.retention_seconds * _TICKS_PER_SECOND)
        streams: list[Iterator[tuple[int, str]]] = []
        for channel in channels:
            state = self._channels.get((subscribe_key, channel))
            if state is None:
                continue
            tts = state.timetokens
            start = max(
                bisect_right(tts, after),
                bisect_left(tts, oldest),
                len(tts) - self.retention_count,
            )
            end = min(len(tts), start + MAX_BATCH)
            streams.append(zip(tts[start:end], state.frames[start:end], strict=True))
        merged = list(itertools.islice(heapq.merge(*streams), MAX_BATCH))
        if not merged:
            return [], after
        return [frame for _, frame in merged], merged[-1][0]

    # -- waiting ------------------------------------------------------------

    async def wait_for_publish(
        self, subscribe_key: str, channels: Iterable[str], timeout: float
    ) -> bool:
        """Wait until something is published on one of `channels`, or `timeout`.

        Returns whether a wake-up came (a publish, `resume` or `wake_all`)
        rather than the timeout. Costs O(waiters of the channel) per publish.
        """
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        keys = [(subscribe_key, channel) for channel in channels]
        for key in keys:
            self._channels.setdefault(key, _Channel()).waiters.add(waiter)
        try:
            done, _ = await asyncio.wait({waiter}, timeout=timeout)
            return bool(done)
        finally:
            waiter.cancel()
            for key in keys:
                state = self._channels.get(key)
                if state is None:
                    continue
                state.waiters.discard(waiter)
                if not state.waiters and not state.timetokens:
                    # Subscribing to many never-used channels must not grow memory.
                    del self._channels[key]

    @staticmethod
    def _wake(state: _Channel) -> None:
        for waiter in state.waiters:
            if not waiter.done():
                waiter.set_result(None)
        state.waiters.clear()

    def wake_all(self) -> None:
        """Wake every held long-poll so that it re-reads (used at shutdown)."""
        for state in self._channels.values():
            self._wake(state)

    # -- controls -----------------------------------------------------------

    def pause(self) -> None:
        """Stop delivering: publishes are retained, long-polls stay held or time out empty."""
        self.paused = True

    def resume(self) -> None:
        """Deliver again, starting with whatever was published while paused."""
        self.paused = False
        self.wake_all()

    def duplicate_next(self, count: int = 1) -> None:
        """Send each of the next `count` publishes twice (two consecutive timetokens)."""
        self._duplicates += count

    def reset(self) -> None:
        """Drop retained messages and the pause and duplicate flags.

        Timetokens keep increasing, so cursors handed out before stay valid.
        """
        for state in self._channels.values():
            state.timetokens.clear()
            state.frames.clear()
        self._channels = {key: state for key, state in self._channels.items() if state.waiters}
        self._duplicates = 0
        self.requests.clear()
        self.resume()
