"""Per message: decrypt, validate, de-duplicate, enqueue; bad input to dead letters.

The bot's own posts (a ``PostAdded`` or ``PostChanged`` whose creator is the
subscription's owner) come back as notifications too; they are dropped here,
counted (``own_posts_dropped``), never enqueued: a task would only ignore them.

Second step of an event's path, after :mod:`listener.transports`. The
transport calls :meth:`Ingest.submit` from its message callback (cheap,
never raises); :meth:`Ingest.run` drains the buffer in batches so a burst is
written in one Redis round trip (see :mod:`listener.enqueue`). A batch is
retried until Redis takes it or the lease is gone; the stored timetoken
moves only after its events are enqueued, so a crash replays, never skips.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from glipbot import log_events as ev
from glipbot.contracts.chat_order import ENQUEUE_SCRIPT, Enqueued, enqueue_call
from glipbot.contracts.identity import event_id
from glipbot.errors import InvalidEventError
from glipbot.events import Event, PostEvent, chat_id, epoch_seconds, parse_event
from glipbot.logging import get_logger
from glipbot.state.deadletters import DeadLetters
from glipbot.state.keys import Keys
from listener.decrypt import DecryptError, Decryptor, Plain
from listener.enqueue import SAVE_TIMETOKEN_SCRIPT, CeleryMessages
from listener.lease import Lease
from listener.metrics import Metrics

log = get_logger(__name__)

#: The most events written in one Redis round trip.
MAX_BATCH = 500
#: Dead-letter reasons besides :mod:`listener.decrypt`'s.
UNKNOWN_CHANNEL = "unknown_channel"
INVALID_EVENT = "invalid_event"
UNEXPECTED = "unexpected_error"
#: The channel of notifications recovered by backfill rather than received.
RECOVERED = "backfill"


@dataclass(frozen=True)
class _Refused:
    """Why a message is kept as a dead letter, and what of it could be read."""

    reason: str
    data: Any
    detail: str = ""


#: What checking one message gives: the event and its notification, None (dropped), or
#: the reason it is refused.
_Checked = tuple[Event, dict[str, Any]] | _Refused | None


@dataclass(frozen=True)
class Incoming:
    """One PubNub message as the transport saw it."""

    channel: str
    timetoken: int
    payload: Any


class Ingest:
    """Turns transport messages into Celery messages, in order, in batches."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        lease: Lease,
        messages: Callable[[], CeleryMessages],
        dead_letters: DeadLetters,
        metrics: Metrics,
        *,
        dedup_ttl: int,
        save_timetoken: bool = True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        installation: Keys | None = None,
        intercept: Callable[[Event], bool] | None = None,
    ) -> None:
        """``save_timetoken=False``: the transport's positions are not PubNub timetokens
        (WebSocket frames); it reads :attr:`last_timetoken` and :attr:`written` instead.

        ``installation``: the keys of the installed bot whose notifications these
        are (:meth:`Keys.installation_prefix`): its timetoken and chat watermarks
        live there, and its events are numbered as its own
        (:func:`~glipbot.contracts.identity.event_id` with ``installed``). None:
        the configured bot's. ``intercept(event)`` sees each valid event first;
        True means it was handled here and is not enqueued.
        """
        self._redis = client
        self._keys = keys
        self._own = installation or keys
        self._installed = installation is not None
        self._intercept = intercept
        self._lease = lease
        self._messages_factory = messages
        self._messages: CeleryMessages | None = None
        self._dead = dead_letters
        self._metrics = metrics
        self._dedup_ttl = dedup_ttl
        self._sleep = sleep
        self._buffer: asyncio.Queue[Incoming] = asyncio.Queue()
        self._decryptors: dict[str, Decryptor | Plain] = {}
        self._save_timetoken = save_timetoken
        self._enqueue = client.register_script(ENQUEUE_SCRIPT)
        self._save_tt = client.register_script(SAVE_TIMETOKEN_SCRIPT)
        self._scripts_loaded = False
        self._closed = False
        self.last_event_at: float | None = None
        self.last_timetoken: int | None = None
        #: Set after each batch Redis took (a transport that checkpoints waits on it).
        self.written = asyncio.Event()

    def add_channel(self, channel: str, encryption_key: str) -> None:
        """Decrypt messages of ``channel`` with ``encryption_key`` (kept across moves)."""
        self._decryptors[channel] = Decryptor(encryption_key)

    def add_plain_channel(self, channel: str) -> None:
        """Take messages of ``channel`` as parsed notifications (no encryption)."""
        self._decryptors[channel] = Plain()

    def submit_recovered(self, envelopes: list[dict[str, Any]]) -> None:
        """Queue notifications recovered from the REST API (:mod:`listener.backfill`).

        They are validated, de-duplicated and enqueued like the transport's,
        in the order given, but move no timetoken.
        """
        for envelope in envelopes:
            self._buffer.put_nowait(Incoming(RECOVERED, 0, envelope))

    def submit(self, channel: str, timetoken: int, payload: Any) -> None:
        """Queue one message for processing (called from the transport's callback)."""
        now = time.time()
        self.last_event_at = now
        self._metrics.inc("events_received")
        self._buffer.put_nowait(Incoming(channel, timetoken, payload))

    def pending(self) -> int:
        """Messages received but not yet processed."""
        return self._buffer.qsize()

    def discard_pending(self) -> int:
        """Drop what is buffered (the lease is gone: the next leader replays it)."""
        dropped = 0
        while not self._buffer.empty():
            self._buffer.get_nowait()
            dropped += 1
        return dropped

    def close(self) -> None:
        """End of the reign: nothing is written from now on; :meth:`run` ends after its batch.

        A task that swallowed its cancel (see :mod:`listener.cancellation`)
        and was abandoned can then never write for a later reign of the same
        process, whose lease value it would otherwise read.
        """
        self._closed = True

    async def run(self) -> None:
        """Process batches until cancelled, or closed (:meth:`close`)."""
        while not self._closed:
            batch = [await self._buffer.get()]
            while len(batch) < MAX_BATCH and not self._buffer.empty():
                batch.append(self._buffer.get_nowait())
            await self.process(batch)

    async def drain(self) -> None:
        """Process whatever is buffered now (at shutdown, before releasing the lease)."""
        while not self._buffer.empty():
            batch: list[Incoming] = []
            while len(batch) < MAX_BATCH and not self._buffer.empty():
                batch.append(self._buffer.get_nowait())
            await self.process(batch)

    async def process(self, batch: list[Incoming]) -> None:
        """Decrypt and validate each message, then enqueue the good ones in one round trip.

        Decrypting and parsing run in a thread, off the event loop that the
        transport's long-poll (or socket) shares.
        """
        checked = await asyncio.to_thread(self._check_all, batch)
        good: list[tuple[dict[str, Any], str]] = []
        for item, outcome in zip(batch, checked, strict=True):
            if isinstance(outcome, _Refused):
                await self._dead_letter(item, outcome.reason, outcome.data, outcome.detail)
            elif outcome is not None:
                event, data = outcome
                try:
                    if self._intercept is not None and self._intercept(event):
                        continue
                    chat = chat_id(event)
                except Exception as exc:  # a poison message must not end the reign
                    await self._dead_letter(item, UNEXPECTED, data, type(exc).__name__)
                    continue
                good.append((data, chat))
        await self._write(good, max(item.timetoken for item in batch) or None)

    def _check_all(self, batch: list[Incoming]) -> list[_Checked]:
        return [self._check(item) for item in batch]

    def _check(self, item: Incoming) -> _Checked:
        """The event and the notification; None to drop; or why it is refused."""
        decryptor = self._decryptors.get(item.channel)
        data: Any = None
        try:
            if item.channel == RECOVERED:
                data = item.payload
            elif decryptor is None:
                raise DecryptError(UNKNOWN_CHANNEL)
            else:
                data = decryptor.decrypt(item.payload)
            event = parse_event(data)
        except DecryptError as exc:
            return _Refused(exc.reason, None)
        except InvalidEventError as exc:
            return _Refused(INVALID_EVENT, data, exc.reason)
        except Exception as exc:  # a poison message must not end the reign (and replay forever)
            return _Refused(UNEXPECTED, data, type(exc).__name__)
        if isinstance(event, PostEvent) and event.post.creator_id == event.envelope.owner_id:
            # The bot's own post, echoed back: a task would only ignore it.
            self._metrics.inc("own_posts_dropped")
            return None
        return event, data  # parse_event accepted it, so it is a dict

    async def _dead_letter(self, item: Incoming, reason: str, data: Any, detail: str = "") -> None:
        event_uuid = data.get("uuid") if isinstance(data, dict) else None
        self._metrics.inc("dead_letters", reason=reason)
        # Never log the payload: it is ciphertext at best and a post's text at worst.
        log.warning(
            ev.EVENT_DEAD_LETTERED,
            reason=reason,
            detail=detail,
            channel=item.channel,
            timetoken=item.timetoken,
            event_uuid=event_uuid,
        )
        context = {"channel": item.channel, "timetoken": item.timetoken, "detail": detail}
        if event_uuid:
            context["event_uuid"] = event_uuid
        while True:
            try:
                # The ciphertext is kept (replayable with the key); never the key itself.
                await asyncio.to_thread(
                    self._dead.push, "listener", reason, item.payload, **context
                )
                return
            except (RedisError, OSError) as exc:
                if not await self._redis_failed(exc):
                    return

    async def _write(self, good: list[tuple[dict[str, Any], str]], timetoken: int | None) -> None:
        while True:
            lease_value = None if self._closed else self._lease.value
            if lease_value is None:
                self._metrics.inc("fenced", len(good))
                return
            try:
                if not self._scripts_loaded:
                    await self._load_scripts()
                if self._messages is None:
                    self._messages = self._messages_factory()
                built = [(env, chat, self._messages.build(env)) for env, chat in good]
                async with self._redis.pipeline(transaction=False) as pipe:
                    # EVALSHA straight away: a script run through the pipeline
                    # would cost a SCRIPT EXISTS round trip at every batch.
                    for env, chat, (task_id, queue_key, payload) in built:
                        call = enqueue_call(
                            self._keys,
                            lease_value=lease_value,
                            lease_key=self._lease.key,
                            event_id=event_id(env, installed=self._installed),
                            chat=chat,
                            queue_key=queue_key,
                            message=payload,
                            task_id=task_id,
                            dedup_ttl=self._dedup_ttl,
                        )
                        _evalsha(pipe, self._enqueue.sha, call["keys"], call["args"])
                    seen = _chats_seen(good)
                    if seen:
                        pipe.zadd(self._own.listener_chats, seen, gt=True)
                    if timetoken and self._save_timetoken:
                        keys = [self._lease.key, self._own.timetoken]
                        _evalsha(pipe, self._save_tt.sha, keys, [lease_value, str(timetoken)])
                    results = await pipe.execute()
            except NoScriptError:
                # Redis restarted: load the scripts, write the batch again (the enqueue
                # script de-duplicates what the first try wrote; they count as duplicates).
                self._scripts_loaded = False
                continue
            except (RedisError, OSError) as exc:
                if not await self._redis_failed(exc):
                    return
                continue
            self._metrics.set_gauge("redis_up", 1)
            self._account(built, results)
            if timetoken and self._kept(results):
                self.last_timetoken = timetoken
            self.written.set()
            return

    async def _load_scripts(self) -> None:
        """Make sure Redis knows the scripts before the first batch calls them by digest."""
        for script in (ENQUEUE_SCRIPT, SAVE_TIMETOKEN_SCRIPT):
            await self._redis.script_load(script)
        self._scripts_loaded = True

    def _kept(self, results: list[Any]) -> bool:
        """Whether the batch was written under the lease (not fenced)."""
        if self._save_timetoken:
            return bool(results) and results[-1] >= 0
        return self._lease.value is not None and Enqueued.FENCED not in results

    def _account(self, built: list[Any], results: list[Any]) -> None:
        for (env, _, (task_id, _, _)), code in zip(built, results, strict=False):
            if code == Enqueued.ENQUEUED:
                self._metrics.inc("enqueued")
                # Debug: one line per event would cap the listener's throughput.
                log.debug(
                    ev.EVENT_ENQUEUED,
                    event_uuid=env["uuid"],
                    task_id=task_id,
                    subscription_id=env.get("subscriptionId"),
                )
            elif code == Enqueued.DUPLICATE:
                self._metrics.inc("duplicates")
                log.info(ev.EVENT_DUPLICATE, event_uuid=env["uuid"])
            else:
                self._metrics.inc("fenced")
                log.warning(ev.EVENT_FENCED, event_uuid=env["uuid"], fence=self._lease.fence)

    async def _redis_failed(self, exc: Exception) -> bool:
        """Count and log a Redis failure; wait and say whether to retry (lease still held)."""
        self._metrics.inc("redis_errors")
        self._metrics.set_gauge("redis_up", 0)
        log.error(ev.REDIS_WRITE_FAILED, error=str(exc))
        await self._sleep(0.5)
        return self._lease.held and not self._closed


def _evalsha(pipe: Any, sha: str, keys: list[Any], args: list[Any]) -> None:
    """Queue one script call by its digest alone."""
    pipe.evalsha(sha, len(keys), *keys, *args)


def _chats_seen(good: list[tuple[dict[str, Any], str]]) -> dict[str, float]:
    """Each chat's newest event time in the batch (epoch seconds), for backfill's watermarks."""
    seen: dict[str, float] = {}
    for envelope, chat in good:
        if chat:
            at = epoch_seconds(envelope.get("timestamp")) or time.time()
            seen[chat] = max(seen.get(chat, 0.0), at)
    return seen
