"""Many bots, one deployment: installs, memory, renewals and reply latency of N installed bots.

Starts Redis, the sandbox (RingCentral's default rate limits: each bot has
buckets of its own), ``--listeners`` listeners and ``--workers`` workers
(8 shards, lease TTL 5 s, subscriptions of ``--lifetime`` s renewed a quarter
of a lifetime early, over ``--transport``), then, phase by phase:

  installs     N bots installed through the sandbox as RingCentral installs
               them (half private, half public; the redirect URIs alternate
               between the listeners' ``/bot/oauth``), by 8 threads; each
               counted once its installation is ``installed``
  subscribed   seconds until the sandbox holds a subscription of every bot
  greeted      each bot's person opens a private chat with it; seconds until
               every bot posted its greeting (seen in the request recorder)
  memory       each listener's RSS (``/proc/<pid>/status``) before the installs
               and once every bot is subscribed; memory per installation is the
               sum's growth / N, and "installations within 512 MiB" extrapolates
               that slope from one listener's baseline (not measured up there)
  steady       ``--rate`` "help" posts a second for ``--duration`` s, each from a
               bot's person to that bot (round-robin over the bots, so a bot gets
               ``rate * 60 / N`` a minute); afterwards every chat is read: a reply
               is the bot's help text, paired with a request before it (see
               :func:`pair`: replies keep their chat's order). Latency = reply's
               creationTime - request's creationTime (both the sandbox's clock).
               p50/p99 per window (``--windows`` equal windows by request time,
               min / median / max over them) and over the whole run; lost (no
               reply when the chats are read, at least 30 s after the run unless
               every reply was in before) and doubled (a reply left unpaired).
               Every 5 s the sandbox's subscriptions are sampled: bots without a
               live one, worst sample. Renewals: the listeners'
               ``glipbot_listener_renewals_total`` over the run, against
               N * duration / (lifetime - margin), and gaps. Each request's time
               and latency go to ``latencies.csv`` in the run's log directory.
  kill         (``--kill``, the default) at mid-run, kill -9 of the listener
               leading the most shards: seconds until the others lead every
               shard, and until every bot is live again; the requests sent
               meanwhile, and whether each was answered
  comparator   the same steady load (rate, duration, windows; no kill) against
               a fresh stack with ``--comparator`` installations; its p50/p99 and
               the ratio of the p99s

and 429s: those the sandbox recorded in each phase (per IP, or per person or
bot), those the programs' own limiter met (the workers' ``http_429_*``
counters) and those our people met. If a bot would get more than 40 requests
a minute (the platform's Light limit is 50 per bot and per person: the
comparator's few bots at the same rate), Light is lifted in the sandbox and
the programs for that run, and the output says so; ``--lift-light`` lifts it
for both runs (said too), for when a limit shared by the whole deployment
refuses installs (the listeners' causes of refused installs are printed).
The target it reports against: "a message to each bot answered within 2 s
at p99 at a steady 20 messages/s across bots". Asserts nothing; figures come
from this program, on whatever machine runs it. Progress goes to stderr, the
table to stdout.

    python -m bench.installations [--installations 1000] [--listeners 2] [--workers 2]
        [--transport pubnub|websocket] [--rate 20] [--duration 120] [--lifetime 60]
        [--comparator 20] [--windows 4] [--no-kill] [--lift-light] [--log-dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import requests

from bench.ingest import LIFTED, _epoch, _spread
from devtools.cluster import Cluster
from devtools.interrupts import Interrupted, StopSignals
from devtools.programs import ListenerProcess
from glipbot.state.counters import Counters
from glipbot.state.keys import Keys
from sandbox.recorder import MAX_RECORDS
from sandbox.testing import API_PREFIX, SandboxControl, login
from tasks.smartfriend.help import HELP_TEXT

TRANSPORTS = ("pubnub", "websocket")
SHARDS = 8
LEASE_TTL = 5
#: Threads that install, log in, open chats, read chats, and send the steady load.
THREADS = 8
#: Requests a minute one bot may get: under the platform's Light limit (50 per bot and person).
PER_BOT_PER_MINUTE = 40
#: Seconds after the steady run within which a reply still counts.
REPLY_GRACE = 30.0
SAMPLE_EVERY = 5.0
TAKEOVER_TIMEOUT = 120.0
INSTALL_TIMEOUT = 60.0
MEMORY_LIMIT = 512 * 1024 * 1024
#: The subscription lifetime the figures are compared with (RingCentral's, the default).
PRODUCTION_LIFETIME = 900
TARGET = "a message to each bot answered within 2 s at p99 at a steady 20 messages/s across bots"
TARGET_P99 = 2.0
TARGET_RATE = 20.0
POSTS = API_PREFIX + "/glip/posts"
#: The listeners' counters read over the steady run (``glipbot_listener_<name>_total``).
COUNTED = (
    "renewals",
    "renewal_failures",
    "recreations",
    "subscription_gaps",
    "installed_gaps_unrecovered",
)
MIB = 1024 * 1024


class PhaseError(RuntimeError):
    """A phase could not go on; the message says which and why."""


# -- pure figures (the unit tests' part) ----------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0..1) of ``values``, as bench.ingest takes it."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def renew_margin(lifetime: float) -> float:
    """The renew margin asked for: a quarter of the lifetime."""
    return lifetime / 4


def expected_renewals(bots: int, duration: float, lifetime: float, margin: float) -> float:
    """Renewals N bots make in ``duration`` s: one every ``lifetime - margin`` s each (the
    keeper renews ``min(margin, lifetime / 3)`` before expiry)."""
    return bots * duration / (lifetime - min(margin, lifetime / 3))


def renewals_per_window(bots: int, duration: float, interval: float) -> tuple[int, int]:
    """The fewest and most renewals ``bots`` make in one window of ``duration`` s when each
    renews every ``interval`` s (the average alone misleads over a few lifetimes)."""
    return bots * math.floor(duration / interval), bots * math.ceil(duration / interval)


def lifetimes_spanned(duration: float, lifetime: float) -> str:
    """How many subscription lifetimes the steady run covers, and what that is at 900 s."""
    spans = duration / lifetime
    minutes = spans * PRODUCTION_LIFETIME / 60
    text = (
        f"the steady run spans {spans:.1f} subscription lifetimes (the equivalent of "
        f"{minutes:.0f} min at {PRODUCTION_LIFETIME} s lifetimes)"
    )
    return text if spans >= 2 else text + " (fewer than 2: lengthen --duration)"


def per_bot_per_minute(rate: float, bots: int) -> float:
    """Requests a minute each bot gets when ``rate`` a second go round-robin over ``bots``."""
    return rate * 60 / max(1, bots)


def capacity(limit: float, baseline: float, per_installation: float) -> float | None:
    """Installations one listener holds within ``limit`` bytes, extrapolated linearly from its
    ``baseline`` and the measured ``per_installation`` slope (None: no growth measured)."""
    if per_installation <= 0:
        return None
    return max(0.0, (limit - baseline) / per_installation)


def metric_value(text: str, name: str) -> float:
    """The sum of a Prometheus metric's samples in ``text`` (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def without_live(bot_ids: Iterable[str], subscriptions: Iterable[Mapping[str, Any]]) -> int:
    """How many of ``bot_ids`` hold no live subscription (none, or one with ``expiresIn`` <= 0;
    a WebSocket subscription has no expiry, ``None``)."""
    live = {
        str(s["ownerId"])
        for s in subscriptions
        if s.get("expiresIn") is None or float(s["expiresIn"]) > 0
    }
    return sum(1 for bot in bot_ids if bot not in live)


@dataclass(frozen=True)
class ChatPost:
    """One post of a chat, as the chat's reading shows it."""

    id: str
    creator: str
    text: str
    created: float
    #: The bot whose chat it is.
    bot: str = ""

    def order(self) -> tuple[float, int]:
        """Creation order (ids increase with creation on the platform)."""
        return self.created, int(self.id) if self.id.isdigit() else 0


@dataclass
class Answers:
    """Requests paired with replies: ``(request time, latency s)``, the lost requests, and
    how many replies had no request waiting."""

    latencies: list[tuple[float, float]] = field(default_factory=list)
    lost: list[ChatPost] = field(default_factory=list)
    doubled: int = 0

    def add(self, other: Answers) -> None:
        """Fold another chat's pairing in."""
        self.latencies += other.latencies
        self.lost += other.lost
        self.doubled += other.doubled

    @property
    def sent(self) -> int:
        """Requests seen in the chats."""
        return len(self.latencies) + len(self.lost)

    def within(self, start: float, end: float) -> Answers:
        """The requests made in ``[start, end]`` (doubled replies are not attributed)."""
        return Answers(
            [(t, lat) for t, lat in self.latencies if start <= t <= end],
            [p for p in self.lost if start <= p.created <= end],
        )


#: What pairing counts for a request left unanswered, or a reply left unmatched (seconds):
#: a reply is matched to a request rather than both counted apart while latency < twice this.
UNMATCHED_COST = 30.0


def pair(requests_: Sequence[ChatPost], replies: Sequence[ChatPost], deadline: float) -> Answers:
    """Pair one chat's requests with the replies made by ``deadline``.

    Replies keep their chat's order, but carry no link to their request, so the
    pairing is the order-keeping matching (each reply after its request, replies
    in the requests' order) of least total latency, a request left unanswered
    (lost) or a reply left unmatched (doubled) costing :data:`UNMATCHED_COST`.
    Oldest-first pairing would shift every later pair after one lost request.
    """
    asked = sorted(requests_, key=ChatPost.order)
    answered = sorted((r for r in replies if r.created <= deadline), key=ChatPost.order)
    cost = _matching_costs(asked, answered)
    out = Answers()
    i, j = len(asked), len(answered)
    while i or j:
        if i and j and _matches(asked[i - 1], answered[j - 1], cost, i, j):
            latency = answered[j - 1].created - asked[i - 1].created
            out.latencies.append((asked[i - 1].created, latency))
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + UNMATCHED_COST:
            out.lost.append(asked[i - 1])
            i -= 1
        else:
            out.doubled += 1
            j -= 1
    out.latencies.reverse()
    out.lost.reverse()
    return out


def _matching_costs(asked: Sequence[ChatPost], answered: Sequence[ChatPost]) -> list[list[float]]:
    """``cost[i][j]``: the least cost of pairing the first ``i`` requests with the first
    ``j`` replies."""
    cost = [[0.0] * (len(answered) + 1) for _ in range(len(asked) + 1)]
    for i in range(len(asked) + 1):
        for j in range(len(answered) + 1):
            if not i and not j:
                continue
            options = []
            if i:
                options.append(cost[i - 1][j] + UNMATCHED_COST)
            if j:
                options.append(cost[i][j - 1] + UNMATCHED_COST)
            if i and j and asked[i - 1].order() < answered[j - 1].order():
                options.append(cost[i - 1][j - 1] + answered[j - 1].created - asked[i - 1].created)
            cost[i][j] = min(options)
    return cost


def _matches(request: ChatPost, reply: ChatPost, cost: list[list[float]], i: int, j: int) -> bool:
    """Whether the least-cost matching pairs request ``i`` with reply ``j`` (1-based)."""
    if request.order() >= reply.order():
        return False
    return cost[i][j] == cost[i - 1][j - 1] + reply.created - request.created


def window_quantiles(
    latencies: Sequence[tuple[float, float]], start: float, duration: float, windows: int
) -> list[tuple[float, float]]:
    """(p50, p99) of each of ``windows`` equal windows of the run by request time (empty
    windows left out)."""
    width = duration / windows
    buckets: list[list[float]] = [[] for _ in range(windows)]
    for sent, latency in latencies:
        index = min(windows - 1, max(0, int((sent - start) / width)))
        buckets[index].append(latency)
    return [(percentile(b, 0.5), percentile(b, 0.99)) for b in buckets if b]


def round_robin(bots: Sequence[str], count: int, seed: int = 0) -> list[str]:
    """``count`` targets going round the bots in one shuffled order (even load per bot)."""
    order = list(bots)
    random.Random(seed).shuffle(order)
    return [order[i % len(order)] for i in range(count)] if order else []


def install_causes(log_lines: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The listeners' causes of the installs they refused or failed, from their log lines; a
    ``rate_limited`` without the platform's error code is their own limiter's refusal."""
    causes: Counter[str] = Counter()
    for line in log_lines:
        if line.get("event") in ("install_failed", "install_refused"):
            cause = str(line.get("cause"))
            if cause == "rate_limited" and not line.get("error_code"):
                cause += " by the listener's own limiter (no 429 from the platform)"
            causes[f"{line.get('status')} {cause}"] += 1
    return dict(causes)


def ms(seconds: float | None) -> str:
    """Seconds as whole milliseconds ("-" for none)."""
    return "-" if seconds is None else f"{1000 * seconds:.0f}"


# -- the command line ---------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options of the module's docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.installations", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--installations", type=int, default=1000, help="bots installed")
    parser.add_argument("--listeners", type=int, default=2, help="listener processes")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers")
    parser.add_argument("--transport", choices=TRANSPORTS, default="pubnub")
    parser.add_argument("--rate", type=float, default=20.0, help="help posts a second")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of steady load")
    parser.add_argument(
        "--lifetime", type=int, default=60, help="subscription lifetime, seconds (short: renewals)"
    )
    parser.add_argument(
        "--comparator", type=int, default=20, help="installations of the comparator run (0: none)"
    )
    parser.add_argument("--windows", type=int, default=4, help="windows of the steady run")
    parser.add_argument(
        "--kill",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="kill -9 the listener leading the most shards at mid-run",
    )
    parser.add_argument(
        "--lift-light",
        action="store_true",
        help="lift the Light rate limit in the sandbox and the programs (as bench.ingest does); "
        "the output says so",
    )
    parser.add_argument(
        "--log-dir", type=Path, default=None, help="programs' logs (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    if args.installations < 1 or args.listeners < 1 or args.workers < 1 or args.windows < 1:
        parser.error("--installations, --listeners, --workers and --windows must be at least 1")
    if args.rate <= 0 or args.duration <= 0 or args.comparator < 0:
        parser.error("--rate and --duration must be positive, --comparator not negative")
    if not 4 <= args.lifetime <= PRODUCTION_LIFETIME:
        parser.error(f"--lifetime must be from 4 to {PRODUCTION_LIFETIME} seconds")
    return args


@dataclass(frozen=True)
class RunConfig:
    """One deployment's run."""

    name: str
    installations: int
    listeners: int
    workers: int
    transport: str
    rate: float
    duration: float
    lifetime: int
    windows: int
    kill: bool
    #: ``--lift-light``: Light lifted whatever the load per bot.
    lift: bool = False

    @property
    def margin(self) -> float:
        """The renew margin asked for."""
        return renew_margin(self.lifetime)

    @property
    def over_limit(self) -> bool:
        """Whether a bot would get more requests than the platform lets it answer."""
        return per_bot_per_minute(self.rate, self.installations) > PER_BOT_PER_MINUTE

    @property
    def lift_light(self) -> bool:
        """Whether Light is lifted in the sandbox and the programs (asked, or over the limit)."""
        return self.lift or self.over_limit

    def sandbox_args(self) -> tuple[str, ...]:
        """The sandbox's command line: its defaults, or Light lifted."""
        return ("--rate-limit", f"Light={LIFTED['Light']}") if self.lift_light else ()

    def env(self) -> dict[str, str]:
        """The programs' settings."""
        out = {
            "NOTIFICATION_TRANSPORT": self.transport,
            "LISTENER_SHARDS": str(SHARDS),
            "LISTENER_LEASE_TTL": str(LEASE_TTL),
            "SUBSCRIPTION_EXPIRES_IN": str(self.lifetime),
            "SUBSCRIPTION_RENEW_MARGIN": f"{self.margin:g}",
            "LOG_LEVEL": "INFO",
        }
        if self.lift_light:
            out["RATE_LIMITS"] = f"Light={LIFTED['Light']}/60"
        return out


def configs(args: argparse.Namespace) -> list[RunConfig]:
    """The main run, and the comparator's when asked for."""
    main = RunConfig(
        "main",
        args.installations,
        args.listeners,
        args.workers,
        args.transport,
        args.rate,
        args.duration,
        args.lifetime,
        args.windows,
        args.kill,
        args.lift_light,
    )
    if not args.comparator:
        return [main]
    return [main, replace(main, name="comparator", installations=args.comparator, kill=False)]


# -- the stack's people -------------------------------------------------------------------


def progress(message: str) -> None:
    """A line on stderr, timestamped."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Bot:
    """One installation: the bot and its account's person."""

    bot_id: str
    kind: str
    listener: str
    username: str
    password: str


class People:
    """The accounts' people: their tokens by bot, HTTP sessions shared by threads, 429s met."""

    def __init__(self, rest_url: str) -> None:
        self.rest_url = rest_url.rstrip("/")
        self.tokens: dict[str, str] = {}
        self.person_ids: dict[str, str] = {}
        self.throttled = 0
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def log_in(self, bot: Bot) -> None:
        """Log the bot's person in (one login each: the sandbox keeps 5 per person)."""
        token = login(self.rest_url, bot.username, bot.password)
        with self._lock:
            self.tokens[bot.bot_id] = str(token["access_token"])
            self.person_ids[bot.bot_id] = str(token["owner_id"])

    def call(self, bot_id: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A REST call (``path`` under ``/restapi/v1.0``) as the person of ``bot_id``'s account."""
        headers = {"Authorization": f"Bearer {self.tokens[bot_id]}"}
        resp = self._session().request(
            method, self.rest_url + API_PREFIX + path, headers=headers, timeout=10, **kwargs
        )
        if resp.status_code == 429:
            with self._lock:
                self.throttled += 1
        return resp

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        """Close every thread's session."""
        for session in self._sessions:
            session.close()


def pooled(work: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``work`` over ``items`` by :data:`THREADS` threads, in order."""
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(work, items))


# -- measurements of the stack ------------------------------------------------------------


def rss(pid: int) -> int:
    """A process's resident set size, bytes (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def health(listener: ListenerProcess) -> dict[str, Any] | None:
    """The listener's ``/healthz`` body, or None when it does not answer."""
    try:
        return listener.health(timeout=2)[1]
    except (requests.RequestException, ValueError):
        return None


def installed(listener: ListenerProcess) -> dict[str, Any]:
    """The ``installed`` part of its health (empty when it does not answer)."""
    body = health(listener) or {}
    return dict(body.get("installed") or {})


def listener_counters(listener: ListenerProcess) -> dict[str, float] | None:
    """Its :data:`COUNTED` counters, or None when it does not answer."""
    try:
        text = listener.metrics()
    except requests.RequestException:
        return None
    return {name: metric_value(text, f"glipbot_listener_{name}_total") for name in COUNTED}


def recorded_429s(control: SandboxControl) -> tuple[int, int, bool]:
    """429s the recorder holds: (per IP, per person or bot, whether it is full)."""
    records = control.requests()
    throttled = [r for r in records if r["status"] == 429]
    per_ip = sum(1 for r in throttled if r.get("who") is None)
    return per_ip, len(throttled) - per_ip, len(records) >= MAX_RECORDS


def program_429s(cluster: Cluster) -> dict[str, int]:
    """The programs' own ``http_429_<group>`` counters (their limiter met a 429)."""
    counters = Counters(cluster.redis, Keys.from_settings(cluster.settings).counters)
    return {k: v for k, v in counters.all().items() if k.startswith("http_429_")}


def replies_posted(cluster: Cluster) -> int:
    """The workers' ``replies_posted`` counter."""
    counters = Counters(cluster.redis, Keys.from_settings(cluster.settings).counters)
    return counters.all().get("replies_posted", 0)


# -- phases -------------------------------------------------------------------------------


@dataclass
class Result:
    """What one run measured (None: the phase did not happen)."""

    config: RunConfig
    log_dir: Path
    installed: int = 0
    #: Failed installations, by what the sandbox says of them.
    install_failures: dict[str, int] = field(default_factory=dict)
    #: The listeners' causes of refused installs (their log lines).
    install_causes: dict[str, int] = field(default_factory=dict)
    install_seconds: float = 0.0
    subscribed_seconds: float | None = None
    greeted: int = 0
    greeted_seconds: float | None = None
    rss_before: dict[str, int] = field(default_factory=dict)
    rss_after: dict[str, int] = field(default_factory=dict)
    served_after: dict[str, int] = field(default_factory=dict)
    steady: Steady | None = None
    takeover: Takeover | None = None
    recorder_429s: list[tuple[str, tuple[int, int, bool]]] = field(default_factory=list)
    programs_429s: dict[str, int] = field(default_factory=dict)
    people_429s: int = 0
    phase: str = ""
    #: Listeners that exited before the stack was stopped: their exit status (-9: killed).
    exited: dict[str, int | None] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Steady:
    """The steady run's figures."""

    started: float
    offered: int
    send_failures: dict[int, int]
    send_seconds: float
    answers: Answers
    windows: list[tuple[float, float]]
    worst_without_live: int = 0
    samples: int = 0
    counters: dict[str, float] = field(default_factory=dict)


@dataclass
class Takeover:
    """The kill and what followed it."""

    victim: str
    shards_led: int
    at: float
    all_led_after: float | None = None
    all_live_after: float | None = None
    meanwhile: Answers | None = None


def settled(control: SandboxControl, bot_id: str) -> dict[str, Any]:
    """The installation once its redirect call is over (no longer ``pending``), polled with a
    back-off (20 ms doubling to 0.5 s), so that slow installs do not load the sandbox."""
    deadline = time.monotonic() + INSTALL_TIMEOUT
    pause = 0.02
    while True:
        found = control.installation(bot_id)
        if found["state"] != "pending" or time.monotonic() > deadline:
            return found
        time.sleep(pause)
        pause = min(0.5, pause * 2)


def install_all(cluster: Cluster, count: int, result: Result) -> list[Bot]:
    """Install ``count`` bots (half private, half public, URIs alternating between the
    listeners), by :data:`THREADS` threads; the installed ones."""
    listeners = cluster.listeners
    local = threading.local()

    def install(n: int) -> Bot | str:
        if not hasattr(local, "control"):
            local.control = SandboxControl(cluster.sandbox.control_url)
        control: SandboxControl = local.control
        kind = "private" if n % 2 == 0 else "public"
        listener = listeners[(n // 2) % len(listeners)]
        answer = control.install(kind, f"http://127.0.0.1:{listener.port}/bot/oauth", people=1)
        bot_id = str(answer["bot_id"])
        done = settled(control, bot_id)
        if done["state"] != "installed":
            redirect = done.get("redirect") or {}
            why = redirect.get("status") or str(redirect.get("error")).split(":")[0]
            return f"{done['state']}: redirect answered {why}"
        person = answer["people"][0]
        return Bot(bot_id, kind, listener.name, person["username"], person["password"])

    started = time.monotonic()
    outcomes = pooled(install, range(count))
    result.install_seconds = time.monotonic() - started
    bots = [o for o in outcomes if isinstance(o, Bot)]
    result.install_failures = dict(Counter(o for o in outcomes if isinstance(o, str)))
    result.install_causes = install_causes(
        line for listener in listeners for line in listener.json_lines()
    )
    result.installed = len(bots)
    return bots


def wait_subscribed(control: SandboxControl, bots: Sequence[Bot], timeout: float) -> float:
    """Seconds until the sandbox holds a subscription of every bot."""
    wanted = {b.bot_id for b in bots}
    started = time.monotonic()
    missing = len(wanted)
    while time.monotonic() - started < timeout:
        owners = {str(s["ownerId"]) for s in control.state()["subscriptions"]}
        missing = len(wanted - owners)
        if not missing:
            return time.monotonic() - started
        time.sleep(1)
    raise PhaseError(
        f"subscribed: {missing} of {len(wanted)} bots have no subscription after {timeout:.0f} s"
    )


def open_chats(people: People, bots: Sequence[Bot]) -> dict[str, str]:
    """Each bot's private chat with its person (the bot greets): chat id by bot id."""

    def open_one(bot: Bot) -> tuple[str, str]:
        resp = people.call(
            bot.bot_id,
            "POST",
            "/glip/groups",
            json={"type": "PrivateChat", "members": [{"id": bot.bot_id}]},
        )
        resp.raise_for_status()
        return bot.bot_id, str(resp.json()["id"])

    return dict(pooled(open_one, bots))


def wait_greetings(
    control: SandboxControl, chats: Mapping[str, str], started: float, timeout: float
) -> tuple[int, float | None]:
    """How many bots posted in their chat (their greeting), and the seconds from ``started``
    (monotonic) until all had (None: not all within ``timeout``). The recorder is read each
    second, so its 10,000-call cap never drops a greeting unread."""
    bot_of = {chat: bot for bot, chat in chats.items()}
    greeted: set[str] = set()
    while True:
        for r in control.requests(path=POSTS, method="POST"):
            chat = str((r.get("body") or {}).get("groupId"))
            if r["status"] == 200 and bot_of.get(chat) == r.get("who"):
                greeted.add(chat)
        elapsed = time.monotonic() - started
        if len(greeted) == len(chats):
            return len(greeted), elapsed
        if elapsed > timeout:
            return len(greeted), None
        time.sleep(1)


def read_chat(people: People, bot_id: str, chat_id: str) -> list[ChatPost]:
    """Every post of a chat, as its person reads it (paged)."""
    posts: list[ChatPost] = []
    params: dict[str, str] = {"groupId": chat_id, "recordCount": "250"}
    while True:
        resp = people.call(bot_id, "GET", "/glip/posts", params=params)
        resp.raise_for_status()
        body = resp.json()
        posts += [
            ChatPost(
                str(p["id"]),
                str(p["creatorId"]),
                str(p["text"]),
                _epoch(p["creationTime"]),
                bot_id,
            )
            for p in body["records"]
        ]
        token = body.get("navigation", {}).get("nextPageToken")
        if not token:
            return posts
        params["pageToken"] = token


def answers_of(people: People, chats: Mapping[str, str], since: float, deadline: float) -> Answers:
    """Read every chat and pair the person's "help" posts made since ``since`` with the bot's
    help replies."""

    def one(item: tuple[str, str]) -> Answers:
        bot_id, chat_id = item
        posts = [p for p in read_chat(people, bot_id, chat_id) if p.created >= since]
        person = people.person_ids[bot_id]
        asked = [p for p in posts if p.creator == person and p.text == "help"]
        replies = [p for p in posts if p.creator == bot_id and p.text == HELP_TEXT]
        return pair(asked, replies, deadline)

    total = Answers()
    for part in pooled(one, list(chats.items())):
        total.add(part)
    return total


class Monitor(threading.Thread):
    """Every :data:`SAMPLE_EVERY` s: bots without a live subscription, and each listener's
    counters (their first and latest readings)."""

    def __init__(self, cluster: Cluster, bot_ids: Sequence[str]) -> None:
        super().__init__(daemon=True, name="monitor")
        self._control = SandboxControl(cluster.sandbox.control_url)
        self._cluster = cluster
        self._bots = list(bot_ids)
        self.worst = 0
        self.samples = 0
        self.first: dict[str, dict[str, float]] = {}
        self.last: dict[str, dict[str, float]] = {}
        self.stopped = threading.Event()

    def read_counters(self, listener: ListenerProcess) -> None:
        """Note one listener's counters now."""
        value = listener_counters(listener)
        if value is not None:
            self.first.setdefault(listener.name, value)
            self.last[listener.name] = value

    def sample(self) -> None:
        """One sample of both."""
        with contextlib.suppress(requests.RequestException):
            subscriptions = self._control.state()["subscriptions"]
            self.worst = max(self.worst, without_live(self._bots, subscriptions))
            self.samples += 1
        for listener in self._cluster.live_listeners():
            self.read_counters(listener)

    def run(self) -> None:
        while not self.stopped.wait(SAMPLE_EVERY):
            self.sample()

    def totals(self) -> dict[str, float]:
        """Each counter's growth from the first to the latest reading, summed over listeners."""
        return {
            counter: sum(self.last[n][counter] - self.first[n][counter] for n in self.first)
            for counter in COUNTED
        }


class Killer(threading.Thread):
    """At ``at`` (epoch), kill -9 the listener leading the most shards, then time the takeover."""

    def __init__(self, cluster: Cluster, monitor: Monitor, at: float, bots: int) -> None:
        super().__init__(daemon=True, name="killer")
        self._cluster = cluster
        self._monitor = monitor
        self._at = at
        self._bots = bots
        self.takeover: Takeover | None = None
        self.note = ""
        self.stopped = threading.Event()

    def run(self) -> None:
        if self.stopped.wait(max(0.0, self._at - time.time())):
            return
        led = {listener: len(installed(listener).get("led", [])) for listener in self._live()}
        if len(led) < 2:
            self.note = "kill skipped: fewer than two live listeners"
            return
        victim = max(led, key=lambda listener: led[listener])
        self._monitor.read_counters(victim)
        killed_at = time.time()
        victim.signal(signal.SIGKILL)
        self.takeover = Takeover(victim.name, led[victim], killed_at)
        progress(f"kill -9 {victim.name} (it led {led[victim]} shards)")
        self._follow(victim, self.takeover)

    def _live(self) -> list[ListenerProcess]:
        return self._cluster.live_listeners()

    def _follow(self, victim: ListenerProcess, takeover: Takeover) -> None:
        while time.time() - takeover.at < TAKEOVER_TIMEOUT and not self.stopped.is_set():
            parts = [installed(s) for s in self._live() if s is not victim]
            led = {shard for p in parts for shard in p.get("led", [])}
            live = sum(r.get("live", 0) for p in parts for r in p.get("reigns", []))
            now = time.time() - takeover.at
            if len(led) == SHARDS and takeover.all_led_after is None:
                takeover.all_led_after = now
            if takeover.all_led_after is not None and live >= self._bots:
                takeover.all_live_after = now
                return
            time.sleep(0.1)


def send_steady(people: People, chats: Mapping[str, str], config: RunConfig) -> Steady:
    """``rate`` help posts a second for ``duration`` s, round-robin over the bots (each
    sent at its time by one of :data:`THREADS` threads); the sends' figures, before pairing."""
    total = max(1, round(config.rate * config.duration))
    targets = round_robin(sorted(chats), total)
    failures: dict[int, int] = {}
    lock = threading.Lock()

    def send(bot_id: str) -> None:
        try:
            status = people.call(
                bot_id, "POST", "/glip/posts", json={"groupId": chats[bot_id], "text": "help"}
            ).status_code
        except requests.RequestException:
            status = 0
        if status != 200:
            with lock:
                failures[status] = failures.get(status, 0) + 1

    started = time.time()
    with ThreadPoolExecutor(THREADS) as pool:
        for i, bot_id in enumerate(targets):
            delay = started + i / config.rate - time.time()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, bot_id)
    return Steady(started, total, failures, time.time() - started, Answers(), [])


def steady_run(
    cluster: Cluster, people: People, chats: Mapping[str, str], config: RunConfig, result: Result
) -> None:
    """The steady load, the samples, the kill; then the pairing of requests and replies."""
    monitor = Monitor(cluster, list(chats))
    monitor.sample()
    posted_before = replies_posted(cluster)
    monitor.start()
    killer = None
    if config.kill:
        killer = Killer(cluster, monitor, time.time() + config.duration / 2, len(chats))
        killer.start()
    try:
        steady = send_steady(people, chats, config)
        ended = time.time()
        monitor.stopped.set()
        monitor.join(timeout=10)
        monitor.sample()  # the counters and subscriptions at the end of the steady run
        progress(f"{config.name}: load sent; waiting up to {REPLY_GRACE:g} s for the replies")
        _wait_replies(cluster, posted_before, steady.offered - sum(steady.send_failures.values()))
    except BaseException:
        if killer is not None:
            killer.stopped.set()  # no waiting for the takeover's end on an error or Ctrl-C
        raise
    finally:
        monitor.stopped.set()
        if killer is not None:
            killer.join(timeout=TAKEOVER_TIMEOUT)
            killer.stopped.set()
    steady.answers = answers_of(people, chats, steady.started - 1, ended + REPLY_GRACE)
    steady.windows = window_quantiles(
        steady.answers.latencies, steady.started, config.duration, config.windows
    )
    steady.worst_without_live, steady.samples = monitor.worst, monitor.samples
    steady.counters = monitor.totals()
    result.steady = steady
    write_latencies(result.log_dir / "latencies.csv", steady)
    if killer is not None:
        result.takeover = killer.takeover
        if killer.note:
            progress(killer.note)
        if killer.takeover is not None:
            t = killer.takeover
            end = t.at + (t.all_live_after if t.all_live_after is not None else TAKEOVER_TIMEOUT)
            t.meanwhile = steady.answers.within(t.at, end)


def write_latencies(path: Path, steady: Steady) -> None:
    """Each request's time into the run and reply latency (seconds; lost: empty), as CSV."""
    rows = [(t - steady.started, f"{lat:.3f}") for t, lat in steady.answers.latencies]
    rows += [(p.created - steady.started, "") for p in steady.answers.lost]
    lines = ["sent_s,latency_s"] + [f"{t:.3f},{lat}" for t, lat in sorted(rows)]
    path.write_text("\n".join(lines) + "\n")


def _wait_replies(cluster: Cluster, before: int, expected: int) -> None:
    deadline = time.monotonic() + REPLY_GRACE
    while replies_posted(cluster) - before < expected and time.monotonic() < deadline:
        time.sleep(0.5)


def run(config: RunConfig, log_dir: Path, signals: StopSignals) -> Result:
    """One deployment from start to stop; a phase that fails is the result's ``error``."""
    result = Result(config, log_dir)
    env = config.env()
    cluster = Cluster(
        log_dir,
        listeners=config.listeners,
        workers=config.workers,
        sandbox_args=config.sandbox_args(),
        env=env,
    )
    people: People | None = None
    try:
        step(result, "start", f"starting the stack; logs in {log_dir}")
        cluster.start()
        people = People(cluster.sandbox.rest_url)
        phases(cluster, people, config, result)
    except Exception as exc:  # any failure is reported with the phase and the listeners' logs
        result.error = f"phase {result.phase}: {type(exc).__name__}: {exc}"
        result.error += cluster.tails(cluster.listeners)
    finally:
        if people is not None:
            result.people_429s = people.throttled
            people.close()
        result.exited = {p.name: p.returncode for p in cluster.listeners if not p.running()}
        with signals.deferred():
            cluster.stop()
    return result


def step(result: Result, phase: str, message: str) -> None:
    """Enter ``phase``; say so on stderr."""
    result.phase = phase
    progress(f"{result.config.name}: {message}")


def phases(cluster: Cluster, people: People, config: RunConfig, result: Result) -> None:
    """Install, subscribe, greet, measure memory, run the steady load."""
    control = cluster.sandbox.control
    result.rss_before = {p.name: rss(p.pid) for p in cluster.listeners}
    step(result, "installs", f"installing {config.installations} bots")
    control.clear_requests()
    bots = install_all(cluster, config.installations, result)
    step(result, "subscribed", f"{len(bots)} installed in {result.install_seconds:.1f} s")
    if not bots:
        raise PhaseError("installs: no bot was installed")
    result.subscribed_seconds = wait_subscribed(control, bots, max(120.0, 0.3 * len(bots)))
    result.rss_after = {p.name: rss(p.pid) for p in cluster.listeners}
    result.served_after = {p.name: int(installed(p).get("bots", 0)) for p in cluster.listeners}
    step(result, "greeted", f"every bot subscribed {result.subscribed_seconds:.1f} s later")
    pooled(people.log_in, bots)
    result.recorder_429s.append(("installs and subscriptions", recorded_429s(control)))
    control.clear_requests()
    started = time.monotonic()
    chats = open_chats(people, bots)
    result.greeted, result.greeted_seconds = wait_greetings(
        control, chats, started, max(120.0, 0.3 * len(bots))
    )
    progress(f"{config.name}: {result.greeted}/{len(chats)} greetings posted")
    result.recorder_429s.append(("chats and greetings", recorded_429s(control)))
    control.clear_requests()
    step(result, "steady", f"steady load, {config.rate:g}/s for {config.duration:g} s")
    steady_run(cluster, people, chats, config, result)
    result.recorder_429s.append(("steady load", recorded_429s(control)))
    result.programs_429s = program_429s(cluster)


# -- the table ----------------------------------------------------------------------------

ROW = "  {:<46} {}"


def row(label: str, value: str) -> str:
    """One line of the table."""
    return ROW.format(label, value)


def spread_ms(pairs: Sequence[tuple[float, float]], index: int) -> str:
    """min / median / max in ms of one quantile over the windows ("-" with none)."""
    values = [1000 * p[index] for p in pairs]
    return _spread(values) if values else "-"


def whole_ms(answers: Answers, q: float) -> str:
    """A quantile of the whole run's latencies, in ms."""
    latencies = [lat for _, lat in answers.latencies]
    return ms(percentile(latencies, q)) if latencies else "-"


def headline(config: RunConfig, log_dir: Path) -> list[str]:
    """What ran, how it was set up."""
    per_minute = per_bot_per_minute(config.rate, config.installations)
    limits = f"the sandbox's defaults, per bot and person; a bot gets {per_minute:.1f} a minute"
    if config.over_limit:
        limits = (
            f"Light LIFTED in the sandbox and the programs ({per_minute:.1f} requests a minute "
            f"per bot is over {PER_BOT_PER_MINUTE}; the platform allows 50)"
        )
    elif config.lift:
        limits = (
            f"Light LIFTED in the sandbox and the programs (--lift-light); a bot gets "
            f"{per_minute:.1f} a minute"
        )
    return [
        f"{config.name}: {config.installations} installations, {config.listeners} listeners, "
        f"{config.workers} workers, {config.transport}, {SHARDS} shards, lease TTL {LEASE_TTL} s; "
        f"logs in {log_dir}",
        f"  subscriptions of {config.lifetime} s renewed {config.margin:g} s early; "
        + lifetimes_spanned(config.duration, config.lifetime),
        f"  rate limits: {limits}",
    ]


def setup_lines(result: Result) -> list[str]:
    """Installs, subscriptions, greetings."""
    n = result.config.installations
    per_second = result.installed / result.install_seconds if result.install_seconds else 0.0
    lines = [
        row(
            "installs (8 threads, until 'installed')",
            f"{result.installed}/{n} in {result.install_seconds:.1f} s: {per_second:.1f}/s",
        )
    ]
    lines += [row(f"  {n} failed", what) for what, n in result.install_failures.items()]
    lines += [
        row(f"  {n} refused by the listeners", cause)
        for cause, n in sorted(result.install_causes.items(), key=lambda c: -c[1])
    ]
    if result.subscribed_seconds is not None:
        lines.append(
            row("every bot subscribed", f"{result.subscribed_seconds:.1f} s after the last install")
        )
    if result.greeted or result.greeted_seconds is not None:
        after = (
            f"{result.greeted_seconds:.1f} s after the chats were opened"
            if result.greeted_seconds is not None
            else "not all in time"
        )
        lines.append(row("greetings posted", f"{result.greeted}/{result.installed}, {after}"))
    return lines


def memory_lines(result: Result) -> list[str]:
    """RSS before and after, the slope, the extrapolation."""
    if not result.rss_after:
        return []
    lines = [row("memory (RSS)", "before MiB / after MiB / bots served")]
    for name, before in result.rss_before.items():
        after = result.rss_after.get(name, 0)
        served = result.served_after.get(name, 0)
        lines.append(row(f"  {name}", f"{before / MIB:.1f} / {after / MIB:.1f} / {served}"))
    growth = sum(result.rss_after.values()) - sum(result.rss_before.values())
    per = growth / max(1, result.installed)
    baseline = statistics.mean(result.rss_before.values())
    lines.append(
        row(
            "  per installation",
            f"{per / 1024:.1f} KiB (the listeners' growth {growth / MIB:.1f} MiB "
            f"/ {result.installed})",
        )
    )
    held = capacity(MEMORY_LIMIT, baseline, per)
    value = (
        "- (no growth measured)"
        if held is None
        else f"~{held:,.0f} (extrapolated from the slope: (512 - {baseline / MIB:.1f} MiB "
        f"baseline) / {per / 1024:.1f} KiB; not measured)"
    )
    lines.append(row("  installations one listener holds in 512 MiB", value))
    return lines


def steady_lines(result: Result) -> list[str]:
    """Latencies over the windows and the whole run, counts, subscriptions, renewals."""
    steady = result.steady
    if steady is None:
        return []
    a = steady.answers
    per_bot = steady.offered / max(1, result.installed)
    over = f"min / median / max over {len(steady.windows)} windows"
    lines = [
        f"  steady load: {steady.offered} help posts sent in {steady.send_seconds:.1f} s "
        f"({steady.offered / steady.send_seconds:.1f}/s), round-robin: {per_bot:.1f} per bot",
        row("", f"{over:<34} whole run"),
        row("p50 ms", f"{spread_ms(steady.windows, 0):<34} {whole_ms(a, 0.5)}"),
        row("p99 ms", f"{spread_ms(steady.windows, 1):<34} {whole_ms(a, 0.99)}"),
        row(
            "requests seen / answered / lost / doubled",
            f"{a.sent} / {len(a.latencies)} / {len(a.lost)} / {a.doubled}",
        ),
        row("posts the sandbox refused", _statuses(steady.send_failures)),
        row(
            "bots without a live subscription",
            f"{steady.worst_without_live} (max over {steady.samples} samples, every "
            f"{SAMPLE_EVERY:g} s)",
        ),
    ]
    lines += [
        row(f"lost: post {p.id} to bot {p.bot}", f"+{p.created - steady.started:.1f} s")
        for p in a.lost[:10]
    ]
    return lines + counter_lines(result, steady)


def counter_lines(result: Result, steady: Steady) -> list[str]:
    """The listeners' renewals (against what the lifetime implies) and gaps, over the run."""
    config, counted = result.config, steady.counters
    # The configured bot (the seed's SmartFriend) keeps a subscription of its own too.
    bots = result.installed + 1
    interval = config.lifetime - min(config.margin, config.lifetime / 3)
    expected = expected_renewals(bots, steady.send_seconds, config.lifetime, config.margin)
    low, high = renewals_per_window(bots, steady.send_seconds, interval)
    note = (
        "none expected over WebSocket (a subscription lives as long as its session)"
        if config.transport == "websocket"
        else f"expected ~{expected:.0f} on average = ({result.installed} + the configured bot) "
        f"x {steady.send_seconds:.0f} s / {interval:g} s; {low} to {high} in one such window"
    )
    if not counted:
        return [row("listeners' counters over the run", "- (not read)")]
    return [
        row("renewals (listeners' counters, over the run)", f"{counted['renewals']:.0f} ({note})"),
        row(
            "renewal failures / recreations",
            f"{counted['renewal_failures']:.0f} / {counted['recreations']:.0f}",
        ),
        row(
            "subscription gaps / installed unrecovered",
            f"{counted['subscription_gaps']:.0f} / {counted['installed_gaps_unrecovered']:.0f}",
        ),
    ]


def _statuses(failures: Mapping[int, int]) -> str:
    if not failures:
        return "none"
    return ", ".join(f"{n} x {status or 'no answer'}" for status, n in sorted(failures.items()))


def takeover_lines(result: Result) -> list[str]:
    """The kill, the takeover, the requests made meanwhile."""
    t, steady = result.takeover, result.steady
    if t is None or steady is None:
        return []
    lines = [
        f"  kill -9 {t.victim} (it led {t.shards_led} of {SHARDS} shards) "
        f"{t.at - steady.started:.1f} s into the steady run",
        row("the others lead every shard after", _seconds(t.all_led_after)),
        row("every bot live again after", _seconds(t.all_live_after)),
    ]
    if t.meanwhile is not None:
        m = t.meanwhile
        lines.append(
            row(
                "requests sent meanwhile",
                f"{m.sent}: answered {len(m.latencies)}, lost {len(m.lost)}; "
                f"p50 {whole_ms(m, 0.5)} ms, p99 {whole_ms(m, 0.99)} ms",
            )
        )
        rest = without_takeover(result)
        lines.append(
            row("p50 / p99 ms without them", f"{whole_ms(rest, 0.5)} / {whole_ms(rest, 0.99)}")
        )
    return lines


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def without_takeover(result: Result) -> Answers:
    """The steady run's answers, less the requests made during the takeover."""
    assert result.steady is not None
    answers = result.steady.answers
    t = result.takeover
    if t is None or t.meanwhile is None:
        return answers
    end = t.at + (t.all_live_after if t.all_live_after is not None else TAKEOVER_TIMEOUT)
    return Answers(
        [(s, lat) for s, lat in answers.latencies if not t.at <= s <= end],
        [p for p in answers.lost if not t.at <= p.created <= end],
        answers.doubled,
    )


def throttle_lines(result: Result) -> list[str]:
    """Every 429 seen, by whom, per phase."""
    parts = []
    for phase, (per_ip, per_person, full) in result.recorder_429s:
        capped = " (recorder full: at least)" if full else ""
        parts.append(f"{phase}: {per_ip} per IP, {per_person} per person or bot{capped}")
    programs = ", ".join(f"{k} {v}" for k, v in sorted(result.programs_429s.items())) or "none"
    return [
        row("429s the sandbox recorded", "; ".join(parts) or "-"),
        row("429s the programs' limiter met", programs),
        row("429s our people met", str(result.people_429s)),
    ]


def report(result: Result) -> list[str]:
    """One run's part of the table."""
    lines = headline(result.config, result.log_dir)
    lines += setup_lines(result) + memory_lines(result) + steady_lines(result)
    lines += takeover_lines(result) + throttle_lines(result)
    if result.exited:
        statuses = ", ".join(f"{name} with status {code}" for name, code in result.exited.items())
        lines.append(row("listeners that exited before the end", statuses))
    if result.error:
        lines.append(f"  FAILED: {result.error}")
    return lines


def p99_of(answers: Answers) -> float | None:
    """The whole run's p99, seconds."""
    latencies = [lat for _, lat in answers.latencies]
    return percentile(latencies, 0.99) if latencies else None


def verdict(main: Result, comparator: Result | None) -> list[str]:
    """The ratio to the comparator, and the target."""
    if main.steady is None:
        return [f'target: "{TARGET}": not measured (the run failed)']
    steady_p99 = p99_of(without_takeover(main))
    all_p99 = p99_of(main.steady.answers)
    lines = []
    if comparator is not None and comparator.steady is not None:
        other = p99_of(comparator.steady.answers)
        ratio = f"{steady_p99 / other:.2f}" if steady_p99 and other else "-"
        lines.append(
            f"p99 ratio {main.installed} bots / {comparator.installed} bots: {ratio} "
            f"({ms(steady_p99)} ms / {ms(other)} ms; the takeover's requests left out)"
        )
    rate = main.config.rate
    at = f"at {rate:g}/s" + ("" if rate == TARGET_RATE else f" (the target says {TARGET_RATE:g}/s)")
    a = main.steady.answers
    exact = "every request answered exactly once"
    if a.lost or a.doubled:
        exact = f"NOT every request answered exactly once: {len(a.lost)} lost, {a.doubled} doubled"
    lines += [
        f'target: "{TARGET}"',
        f"  {main.installed} bots {at}: p99 {ms(steady_p99)} ms without the takeover's "
        f"requests: {_met(steady_p99)}; with them {ms(all_p99)} ms: {_met(all_p99)}; {exact}",
    ]
    return lines


def _met(p99: float | None) -> str:
    if p99 is None:
        return "not measured"
    return "met" if p99 <= TARGET_P99 else "NOT met"


def main(argv: list[str] | None = None) -> int:
    """Run the main deployment and the comparator; print the table. Exit 1 if a run failed."""
    args = parse_args(argv)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="bench-installations-"))
    signals = StopSignals().install()
    results: list[Result] = []
    try:
        for config in configs(args):
            results.append(run(config, log_dir / config.name, signals))
            if results[-1].error:
                progress(f"{config.name} failed: {results[-1].error}")
    except Interrupted as exc:
        progress(f"{exc}: stopped")
        return 128 + exc.signum
    finally:
        signals.ignore()
    print("many bots, one deployment (bench.installations)")
    for result in results:
        print("\n".join(report(result)))
    print("\n".join(verdict(results[0], results[1] if len(results) > 1 else None)))
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
