"""The faults of the matrix: each breaks one thing while John's requests are on their way.

A fault is a function of a :class:`~bench.chaos_trial.Trial`: it sends all
of John's requests (``trial.ask_third()``, ``trial.ask_rest()``) around the
moment it strikes, lifts the fault before it returns, and leaves the stack
whole again (what it killed, it replaces). Its settle timeout bounds how long
the matrix then waits for the answers; ``quiet`` is how long the chat must
stay unchanged before it is counted (longer where a late duplicate may still
land and be deleted).

Over WebSocket (``--transport websocket``) the faults that hold back the
push channel strike the gateway instead of PubNub: where PubNub is paused
(``pubnub-paused``, and the hold that lets the POST faults meet the bot's
answers), the gateway cuts the leader's socket without a close frame and
refuses new ones until the hold is lifted, so the listener recovers the
session and the gateway replays what it missed. ``gateway-session-expired``
is WebSocket only. ``subscription-deleted`` deletes the WebSocket
subscription and leaves the socket up: the listener's check over the socket
finds it gone, subscribes again and backfills. A fault whose control has no
WebSocket counterpart (``malformed``, ``duplicates``) is skipped there with
its reason (:attr:`Fault.skip`).
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.chaos_trial import BOT_ID, POSTS, PUBNUB, TRANSPORTS, WEBSOCKET, Trial
from devtools.processes import WaitTimeoutError, wait_for
from glipbot.contracts import HANDLE_EVENT, POST_REPLY
from glipbot.contracts.ledger import PROGRESS_BOUND
from sandbox.config import SUBSCRIBER_KEY
from worker.reaper import REAP_INTERVAL
from worker.replies import settle_window

#: Seconds Redis stays down when it is restarted.
REDIS_DOWN = 5.0
#: Malformed messages published among the real traffic.
MALFORMED = 1000
#: Seconds past the lease TTL that a stopped leader stays stopped.
STOP_PAST_TTL = 5.0
#: Seconds a deposed leader may take to report itself on standby once it runs again.
DEPOSED_BACK = 30.0
#: The usual settle timeout and quiet period.
SETTLE = 90.0
QUIET = 3.0
#: Seconds the gateway refuses handshakes, at most, beyond a hold's own length: a bound
#: in case the matrix dies mid-hold (a hold always ends it itself).
REFUSE_MARGIN = 60.0


@dataclass(frozen=True)
class Fault:
    """One line of the matrix: what ``run`` breaks, and how long to wait for the answers."""

    name: str
    description: str
    run: Callable[[Trial], None]
    settle_timeout: float = SETTLE
    quiet: float = QUIET
    repeats: bool = False  # run ``--repeat`` times
    #: Why the fault does not run over a transport, by transport (absent: it runs).
    skip: Mapping[str, str] = field(default_factory=dict)
    #: What the fault does over WebSocket, when that differs from the description.
    over_websocket: str = ""

    def applies(self, transport: str) -> bool:
        """Whether the fault runs over ``transport`` (else its line says why not)."""
        return transport not in self.skip

    @property
    def transports(self) -> tuple[str, ...]:
        """The transports the fault runs over, in :data:`~bench.chaos_trial.TRANSPORTS` order."""
        return tuple(t for t in TRANSPORTS if self.applies(t))


def baseline(trial: Trial) -> None:
    """Nothing breaks."""
    trial.ask_rest()


def subscription_deleted(trial: Trial) -> None:
    """The platform deletes the bot's subscription mid-stream (and publishes nothing more)."""
    trial.ask_third()
    for sub in _bot_subscriptions(trial):
        trial.control.delete_subscription(sub["id"])
        trial.note(f"deleted subscription {sub['id']}")
    trial.ask_rest()


def late_post(trial: Trial) -> None:
    """Two of the bot's POSTs time out on the client and are made by the platform later:
    one inside the worker's settle window, one after it."""
    timeout = trial.cluster.settings.http_timeout
    window = settle_window(timeout)
    _ask_under_faults(trial, trial.remaining, {"hang": timeout + 2}, {"hang": window + 6})
    trial.note(f"landed {timeout + 2:g} s and {window + 6:g} s after the POST")


def worker_killed(trial: Trial) -> None:
    """The worker holding a reply (its POST hangs) is killed with SIGKILL, the Celery
    parent and its pool together; a replacement starts."""
    cluster = trial.cluster
    trial.ask_third()
    # The next answer's POST hangs (and is then refused): a worker holds it when we kill.
    _ask_under_faults(trial, max(1, trial.remaining // 2), {"status": 503, "hang": 60})
    try:
        wait_for(lambda: trial.control.faults() == [], 30, 0.05)
        holder = _holder(trial)
    except WaitTimeoutError:
        holder = None
    victim = holder or cluster.live_workers()[0]
    victim.signal(signal.SIGKILL)
    wait_for(lambda: not victim.running(), 10, 0.05)
    trial.control.clear_faults()
    trial.note(f"killed {victim.name}" + (" mid-POST" if holder else " (no POST in flight seen)"))
    replacement = cluster.start_worker()
    trial.ask_rest()
    cluster.wait_workers([replacement])


def leader_killed(trial: Trial) -> None:
    """The leading listener is killed with SIGKILL mid-stream; a replacement starts."""
    cluster = trial.cluster
    trial.ask_third()
    leader = cluster.wait_leader()
    leader.signal(signal.SIGKILL)
    killed = time.monotonic()
    wait_for(lambda: not leader.running(), 10, 0.05)
    trial.ask_rest()
    successor = cluster.wait_leader()
    trial.note(
        f"killed {leader.name}; {successor.name} led {time.monotonic() - killed:.1f} s later"
    )
    cluster.start_listener()


def leader_stopped(trial: Trial) -> None:
    """The leading listener is stopped (SIGSTOP) for longer than the lease TTL, then
    continued (SIGCONT): a deposed leader, which must step down, not hang."""
    cluster = trial.cluster
    ttl = cluster.settings.lease_ttl
    trial.ask_third()
    leader = cluster.wait_leader()
    leader.signal(signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        trial.ask_rest()
        time.sleep(max(0.0, stopped + ttl + STOP_PAST_TTL - time.monotonic()))  # the fault itself
    finally:
        leader.signal(signal.SIGCONT)
    continued = time.monotonic()
    successor = cluster.wait_leader()
    trial.note(f"stopped {leader.name} {continued - stopped:.0f} s; {successor.name} leads")
    try:
        _wait_role(trial, leader.name, "standby", DEPOSED_BACK)
        trial.note(f"{leader.name} on standby {time.monotonic() - continued:.1f} s after SIGCONT")
    except WaitTimeoutError:
        roles = cluster.roles()
        trial.note(f"{leader.name} NOT back on standby after {DEPOSED_BACK:g} s: {roles}")


def redis_restarted(trial: Trial) -> None:
    """Redis stops mid-stream (SIGTERM), stays down a while, and starts on its AOF again."""
    trial.ask_third()
    trial.cluster.restart_redis(REDIS_DOWN)
    trial.note(f"down {REDIS_DOWN:g} s")
    trial.ask_rest()


def storm_429(trial: Trial) -> None:
    """The platform answers the bot's POSTs 429 with Retry-After: 1, as many as there
    are requests (at least 10)."""
    count = max(10, len(trial.amounts))
    _ask_under_faults(trial, trial.remaining, {"count": count, "status": 429, "retry_after": 1})
    trial.note(f"{count} x 429")


def burst_503(trial: Trial) -> None:
    """The platform answers five of the bot's POSTs 503 without Retry-After."""
    _ask_under_faults(trial, trial.remaining, {"count": 5, "status": 503})
    trial.note("5 x 503")


def duplicates(trial: Trial) -> None:
    """Every notification (John's and the bot's own posts) is delivered twice."""
    trial.control.duplicate_next(2 * len(trial.amounts) + 2)
    trial.ask_rest()


def delivery_paused(trial: Trial) -> None:
    """The push channel delivers nothing for a while (``--pubnub-pause``) while John
    writes: PubNub is paused; over WebSocket the gateway cuts the leader's socket and
    refuses new ones as long, so the session is recovered and what it missed replayed."""
    with _delivery_held(trial, trial.pubnub_pause):
        trial.ask_rest()
        time.sleep(trial.pubnub_pause)  # the fault itself: the outage lasts this long
    trial.note(f"paused {trial.pubnub_pause:g} s")


def gateway_session_expired(trial: Trial) -> None:
    """WebSocket only: the gateway cuts the leader's socket and refuses new ones while
    John writes, then ends the session for good; the listener's recovery fails, so it
    subscribes again and backfills the chats from the REST API."""
    trial.ask_third()
    with _delivery_held(trial, SETTLE):
        trial.ask_rest()
        expired = trial.control.expire_websocket_sessions(person_id=BOT_ID)
        trial.note(f"expired {expired} session(s)")


def malformed(trial: Trial) -> None:
    """1,000 malformed messages on the subscription's channel, among John's requests."""
    channels = [sub["address"] for sub in _bot_subscriptions(trial)]
    per_request, extra = divmod(MALFORMED, len(trial.amounts))
    published = 0
    for n in range(len(trial.amounts)):
        trial.ask(1)
        for _ in range(per_request + (1 if n < extra else 0)):
            for channel in channels:
                trial.control.publish_raw(SUBSCRIBER_KEY, channel, _garbage(published))
            published += 1
    trial.note(f"{published} malformed on {len(channels)} channel(s)")


#: Why a fault is skipped over a transport.
NO_RAW_FRAMES = "no WebSocket counterpart: the gateway's control API sends no raw frames"
NO_DUPLICATES = "no WebSocket counterpart: the gateway's control API delivers nothing twice"
WEBSOCKET_ONLY = "WebSocket only: PubNub has no gateway session"
#: What holding the push channel means over WebSocket, for ``--list``.
GATEWAY_HELD = "the gateway cuts the leader's socket and refuses new ones"
POST_FAULTS_HELD = f"{GATEWAY_HELD} while the POST faults are set (where PubNub is paused)"

FAULTS: dict[str, Fault] = {
    f.name: f
    for f in [
        Fault("none", "baseline: nothing breaks", baseline),
        Fault(
            "subscription-deleted",
            "the platform deletes the subscription",
            subscription_deleted,
            settle_timeout=150.0,
            over_websocket=(
                "the socket stays up and silent; the listener's check over the socket "
                "(20 s when quiet) finds it gone, subscribes again and backfills"
            ),
        ),
        Fault(
            "late-post",
            "POSTs time out on the client, the platform makes them later",
            late_post,
            quiet=REAP_INTERVAL + 10,  # the late duplicate lands, the reaper deletes it
            settle_timeout=150.0,
            over_websocket=POST_FAULTS_HELD,
        ),
        Fault(
            "worker-killed",
            "kill -9 of a whole worker mid-POST, then a new worker",
            worker_killed,
            settle_timeout=PROGRESS_BOUND + REAP_INTERVAL + 120,
            over_websocket=POST_FAULTS_HELD,
        ),
        Fault("leader-killed", "kill -9 of the leading listener", leader_killed),
        Fault(
            "leader-stopped",
            "SIGSTOP of the leader past the lease TTL, then SIGCONT",
            leader_stopped,
            repeats=True,
        ),
        Fault("redis-restarted", "Redis stopped and started on its AOF", redis_restarted),
        Fault(
            "429-storm",
            "429 with Retry-After on the bot's POSTs",
            storm_429,
            over_websocket=POST_FAULTS_HELD,
        ),
        Fault(
            "503-burst",
            "503 without Retry-After on the bot's POSTs",
            burst_503,
            over_websocket=POST_FAULTS_HELD,
        ),
        Fault(
            "duplicates",
            "every notification delivered twice",
            duplicates,
            skip={WEBSOCKET: NO_DUPLICATES},
        ),
        Fault(
            "pubnub-paused",
            "PubNub delivers nothing for a while",
            delivery_paused,
            over_websocket=f"{GATEWAY_HELD} as long; the session is then recovered",
        ),
        Fault(
            "gateway-session-expired",
            "the gateway ends the session while the listener is cut off",
            gateway_session_expired,
            settle_timeout=150.0,
            skip={PUBNUB: WEBSOCKET_ONLY},
        ),
        Fault(
            "malformed",
            "1,000 malformed messages among real traffic",
            malformed,
            skip={WEBSOCKET: NO_RAW_FRAMES},
        ),
    ]
}


def _ask_under_faults(trial: Trial, count: int, *faults: dict[str, Any]) -> None:
    """John sends ``count`` requests while delivery is held (:func:`_delivery_held`), so
    that his own POSTs never meet the ``faults`` (rules for ``POST /glip/posts``, in
    order); they are set before delivery resumes, so that the bot's next answers do."""
    with _delivery_held(trial, SETTLE):
        trial.ask(count)
        for fault in faults:
            trial.control.fail("POST", POSTS, **fault)


@contextlib.contextmanager
def _delivery_held(trial: Trial, seconds: float) -> Iterator[None]:
    """No notification reaches the listeners inside the block (meant to last ``seconds``
    at most): PubNub is paused (it retains and then delivers); over WebSocket the gateway
    refuses handshakes and cuts the bot's sockets without a close frame (the session keeps
    what it would have sent, for the recovery), and accepts them again on the way out."""
    if trial.transport != WEBSOCKET:
        trial.control.pause_pubnub()
        try:
            yield
        finally:
            trial.control.resume_pubnub()
        return
    trial.control.refuse_websockets(seconds + REFUSE_MARGIN)
    try:
        dropped = trial.control.drop_websockets(person_id=BOT_ID)
        if dropped != 1:
            trial.note(f"cut {dropped} sockets (1 expected)")
        yield
    finally:
        trial.control.refuse_websockets(0)


def _bot_subscriptions(trial: Trial) -> list[dict[str, Any]]:
    """The bot's live subscriptions, as the platform (the sandbox) knows them."""
    return [s for s in trial.control.state()["subscriptions"] if s["ownerId"] == BOT_ID]


def _holder(trial: Trial) -> Any:
    """The live worker whose POST hangs now, if one is seen (:func:`posting_node`)."""
    cluster = trial.cluster
    workers = cluster.live_workers()
    names = {cluster.node_name(w): w for w in workers}
    inspect = cluster.celery.control.inspect(destination=list(names), timeout=1.0)
    node = posting_node(inspect.active() or {})
    return names.get(node) if node else None


def posting_node(active: Mapping[str, list[dict[str, Any]]]) -> str | None:
    """Of ``celery inspect active``'s answer, the node running the task that started first
    among those that post: ``post_reply``, and ``handle_event``, which posts a reply
    itself when its turn and a rate-limit slot are free (the hanging POST's task has run
    the longest; the others are short)."""
    running = [
        (task.get("time_start") or 0.0, node)
        for node, tasks in active.items()
        for task in tasks
        if task.get("name") in (HANDLE_EVENT, POST_REPLY)
    ]
    return min(running)[1] if running else None


def _wait_role(trial: Trial, name: str, role: str, timeout: float) -> None:
    wait_for(lambda: trial.cluster.roles().get(name) == role, timeout, 0.2)


def _garbage(n: int) -> Any:
    """A malformed message of one of several kinds: not base64, base64 of a length no
    AES block fits, base64 of random blocks (no valid padding, no JSON), not a string."""
    kinds: list[Any] = [
        f"not base64 at all #{n} !!",
        base64.b64encode(os.urandom(13)).decode(),
        base64.b64encode(os.urandom(32)).decode(),
        {"uuid": f"malformed-{n}", "body": None},
        n,
    ]
    return kinds[n % len(kinds)]
