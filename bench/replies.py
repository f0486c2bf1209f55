"""The cost of one event, end to end: this project's bot beside a naive one-process bot.

Each repetition measures both sides, one after the other on the same machine:

  this project  a :class:`~devtools.cluster.Cluster` (Redis, the sandbox with its
                rate limits lifted, one listener over PubNub, beat) and two
                Celery workers started as ``make demo`` starts them
                (``-Q events,replies,ops -c 2``, prefork), running SmartFriend
  naive         the same sandbox and ``python -m bench.naive_bot``: one process
                that answers "help" inside the PubNub SDK's message callback
                with a synchronous ``requests.post`` (see that module)

On each side John Smith, from ``--posters`` threads sharing one login, posts
"help" into fresh Team chats of his and the bot's (two members: the bot answers
without a mention) and the chats are read back through the REST API. A reply is
the bot's help text; it is paired with the oldest unanswered request of its
chat created before it (both bots answer a chat in order). Latency = the
reply's ``creationTime`` - the request's ``creationTime``, both the sandbox's
clock (milliseconds). After the last request the chats are read until every
request is answered, or at least 30 s and then until no reply came for 5 s
(at most 180 s): a request still unanswered is *lost*; a reply with no request
waiting before it is *doubled*. A backlog still coming after that is waited for,
uncounted, before the next figure starts. Figures, per workload:

  10/s     ``--seconds`` of requests paced at 10 a second: p50/p99 latency
  100/s    the same at 100 a second, and the replies/s actually achieved
           (answered requests / first request to last reply): saturation
  burst    ``--burst`` requests as fast as the posters go: replies/s from the
           first request to the last reply (the most replies per second), and
           the CPU each side's processes spent per answered request, by role
           (listener, workers with their pool processes, Redis, the sandbox,
           the naive bot; read from /proc, :mod:`bench.cpu`)

Workloads (``--workload``): *single*, every request in one chat (this project
keeps each chat's order, so a chat's replies are serialized), and *many*,
requests round-robin over ``--chats`` chats (at least 20 by default).

  events   (this project only) two many-chats bursts of at least 600 requests,
           one with task events on, one after ``celery control disable_events``:
           replies/s of each, and the events' cost, 1 - on / off, per run

  io       IO-bound scaling (``--pool``: prefork, threads and gevent by
           default, gevent when installed, at -c 20): with every ``POST /glip/posts`` held
           100 ms by the sandbox (a fault: ``hang`` 0.1 s, then the post is
           made; John's requests are held too, hence 32 posting threads), a
           burst of ``--io-posts`` requests over ``--chats`` chats, answered
           by this project with 1 worker process and with 4 (each
           ``-c --concurrency``); the figure is replies/s(4) / (4 x replies/s(1)).
           The naive bot's replies/s under the same delay is shown beside the
           1-process figure.

Prints, for each figure, min / median / max over the repetitions for both sides,
the ratio this project / naive of the medians (measured in the same run), and
the issue's targets beside them with "met" or "not met" (judged on the
medians; "none lost" on every run). Progress goes to stderr, the table to
stdout, the programs' logs to ``--log-dir``. Asserts nothing; figures come
from this program, on whatever machine runs it.

    python -m bench.replies [--repeat 3] [--seconds 20] [--burst 150]
        [--workload single|many|both] [--figures rate10,rate100,burst,events,io]
        [--chats 20] [--posters 8] [--io-posts 300] [--pool prefork] [--pool threads]
        [--concurrency 2] [--log-level INFO] [--log-dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery import Celery

from bench import cpu
from bench.ingest import BOT_ID, JOHN, LIFTED, _epoch, _sandbox_args
from devtools.cluster import Cluster
from devtools.interrupts import Interrupted, StopSignals
from devtools.processes import ManagedProcess
from devtools.programs import ROOT, Program, WorkerProcess
from devtools.sandbox_process import SandboxProcess
from sandbox.testing import Person, SandboxControl, login
from tasks.smartfriend.help import HELP_TEXT

SIDES = ("project", "naive")
SIDE_NAMES = {"project": "this project", "naive": "naive"}
WORKLOADS = ("single", "many")
FIGURES = ("rate10", "rate100", "burst", "events", "io")
POOLS = ("prefork", "threads", "gevent")
RATES = {"rate10": 10.0, "rate100": 100.0}
LABELS = {"rate10": "10/s", "rate100": "100/s", "burst": "burst"}
RATE_METRICS = ("posted/s", "p50 ms", "p99 ms", "replies/s", "lost", "doubled")
#: CPU per answered request, by role (:mod:`bench.cpu`), from the start of the
#: requests to the last reply; shown for the bursts.
CPU = "cpu ms/reply"
CPU_ROLES = ("total", "listener", "worker", "redis", "sandbox", "naive bot")
REQUEST = "help"
#: What ``make demo`` starts: two worker processes of two pool processes each.
DEMO_WORKERS = 2
DEMO_CONCURRENCY = 2
#: The IO-bound figure: the sandbox holds each POST /glip/posts this long.
IO_DELAY = 0.1
#: gevent's pool size per process (``--gevent-concurrency``): a gevent worker runs
#: Celery's synchronous consumer loop, which fetches nothing while every greenlet
#: is busy, so it needs many; greenlets are cheap.
GEVENT_CONCURRENCY = 20
#: The task-events figure: two bursts of at least this many requests over the
#: many-chats workload (one with the events, one without; short bursts are noise).
EVENTS_BURST = 600
EVENTS_KEY = "many burst, task events"
IO_PROCESSES = (1, 4)
IO_POSTERS = 32
#: After the last request: read for at least this long unless all are answered ...
REPLY_WAIT = 30.0
#: ... then until no new reply for this long ...
QUIET = 5.0
#: ... but never longer than this.
WAIT_CAP = 180.0
#: Past the count, a backlog is waited for (uncounted) at most this long.
DRAIN_CAP = 600.0
#: Once every request is answered, one more read this much later (late doubles).
GRACE = 1.0
POLL = 1.0
GREETING_TIMEOUT = 30.0
WARMUP_POSTS = 16
WARMUP_TIMEOUT = 60.0
NAIVE_READY = 30.0


# -- the command line ---------------------------------------------------------------


def _figures(text: str) -> list[str]:
    chosen = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in FIGURES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a comma-separated subset of {','.join(FIGURES)}"
        )
    return chosen


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; ``figures``, ``workloads`` and ``pools`` come out as ordered lists."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.replies", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--repeat", type=_positive_int, default=3, help="runs per side")
    parser.add_argument(
        "--seconds", type=_positive_float, default=20.0, help="length of each paced figure"
    )
    parser.add_argument(
        "--burst", type=_positive_int, default=150, help="requests of the burst figure"
    )
    parser.add_argument(
        "--workload", choices=("single", "many", "both"), default="both", help="chats"
    )
    parser.add_argument(
        "--figures",
        type=_figures,
        action="append",
        help=f"comma-separated subset of {','.join(FIGURES)} (default: all; may repeat)",
    )
    parser.add_argument(
        "--chats", type=_positive_int, default=20, help="chats of the many-chats workload"
    )
    parser.add_argument("--posters", type=_positive_int, default=8, help="John's posting threads")
    parser.add_argument(
        "--io-posts", type=_positive_int, default=300, help="requests of the IO-bound burst"
    )
    parser.add_argument(
        "--pool",
        choices=POOLS,
        action="append",
        help="worker pool of the IO-bound figure (may repeat; default all three)",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=DEMO_CONCURRENCY,
        help="pool size of each worker process (make demo: 2)",
    )
    parser.add_argument(
        "--gevent-concurrency",
        type=_positive_int,
        default=GEVENT_CONCURRENCY,
        help=f"greenlets of each gevent worker process (default {GEVENT_CONCURRENCY})",
    )
    parser.add_argument(
        "--log-level", default="INFO", help="LOG_LEVEL of the project's programs (make demo: INFO)"
    )
    parser.add_argument(
        "--log-dir", type=Path, default=None, help="programs' logs (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    chosen = [f for group in (args.figures or [list(FIGURES)]) for f in group]
    args.figures = [f for f in FIGURES if f in chosen]
    args.workloads = list(WORKLOADS) if args.workload == "both" else [args.workload]
    args.pools = list(dict.fromkeys(args.pool or POOLS))
    return args


# -- pure figures ----------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0..1) of ``values`` (as bench.ingest reads p99)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


@dataclass
class Pairing:
    """Requests paired with replies: each answered request's latency and reply time."""

    latencies: list[float] = field(default_factory=list)
    reply_times: list[float] = field(default_factory=list)
    lost: int = 0
    doubled: int = 0


def pair_replies(
    requests: Mapping[str, Sequence[float]], replies: Mapping[str, Sequence[float]]
) -> Pairing:
    """Pair, chat by chat, each reply with the oldest unanswered request created before it.

    Times are epoch seconds. A reply with no such request is doubled; a request left
    without a reply is lost.
    """
    out = Pairing()
    for chat in sorted(set(requests) | set(replies)):
        waiting = sorted(requests.get(chat, ()))
        next_request = 0
        for reply in sorted(replies.get(chat, ())):
            if next_request < len(waiting) and waiting[next_request] <= reply:
                out.latencies.append(reply - waiting[next_request])
                out.reply_times.append(reply)
                next_request += 1
            else:
                out.doubled += 1
        out.lost += len(waiting) - next_request
    return out


def phase_figures(sent: Sequence[float], pairing: Pairing) -> dict[str, float]:
    """One phase's figures from its requests' times and their pairing."""
    figures: dict[str, float] = {"lost": float(pairing.lost), "doubled": float(pairing.doubled)}
    if len(sent) > 1:
        span = max(sent) - min(sent)
        figures["posted/s"] = (len(sent) - 1) / span if span > 0 else float("inf")
    if pairing.latencies:
        figures["p50 ms"] = 1000 * percentile(pairing.latencies, 0.50)
        figures["p99 ms"] = 1000 * percentile(pairing.latencies, 0.99)
        elapsed = max(pairing.reply_times) - min(sent)
        if elapsed > 0:
            figures["replies/s"] = len(pairing.latencies) / elapsed
    return figures


def metric_key(workload: str, figure: str, metric: str) -> str:
    """The name of one figure in a run's results: ``"single 10/s p99 ms"``."""
    return f"{workload} {LABELS[figure]} {metric}"


def io_key(pool: str, what: str) -> str:
    """The name of an IO-bound figure: ``"io prefork 1 process replies/s"``."""
    return f"io {pool} {what}"


def scaling(four: float, one: float) -> float:
    """replies/s with 4 processes over 4 x replies/s with 1: 1.0 is linear."""
    return four / (4 * one)


Runs = Sequence[Mapping[str, float]]


def values(runs: Runs, key: str) -> list[float]:
    """``key``'s value in each run that has it."""
    return [run[key] for run in runs if key in run]


def median_of(runs: Runs, key: str) -> float | None:
    """The median of ``key`` over ``runs``; None when no run has it."""
    found = values(runs, key)
    return statistics.median(found) if found else None


def spread(found: Sequence[float], digits: int = 0) -> str:
    """``min / median / max`` (``-`` when there is nothing)."""
    if not found:
        return "-"
    return " / ".join(f"{v:.{digits}f}" for v in (min(found), statistics.median(found), max(found)))


def ratio(project: float | None, naive: float | None) -> str:
    """project / naive of the medians, or ``-``."""
    if project is None or naive is None or naive == 0:
        return "-"
    return f"{project / naive:.2f}"


@dataclass(frozen=True)
class Target:
    """One of the issue's targets: what it says and how a run's figures meet it."""

    text: str
    met: Callable[[Runs, Runs], bool | None]


def _verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("met" if met else "not met")


def within_twice_naive(key: str) -> Target:
    """The project's median at most twice the naive bot's."""

    def met(project: Runs, naive: Runs) -> bool | None:
        p, n = median_of(project, key), median_of(naive, key)
        return None if p is None or n is None else p <= 2 * n

    return Target("<= 2x naive", met)


def under_ms_none_lost(key: str, lost_key: str, limit: float) -> Target:
    """The project's median under ``limit`` ms and nothing lost in any of its runs."""

    def met(project: Runs, naive: Runs) -> bool | None:
        p, lost = median_of(project, key), values(project, lost_key)
        return None if p is None or not lost else p < limit and max(lost) == 0

    return Target(f"< {limit:.0f} ms, none lost", met)


def at_least_naive(key: str) -> Target:
    """The project's median at least the naive bot's."""

    def met(project: Runs, naive: Runs) -> bool | None:
        p, n = median_of(project, key), median_of(naive, key)
        return None if p is None or n is None else p >= n

    return Target(">= naive", met)


def at_least(key: str, floor: float) -> Target:
    """The project's median at least ``floor``."""

    def met(project: Runs, naive: Runs) -> bool | None:
        p = median_of(project, key)
        return None if p is None else p >= floor

    return Target(f">= {floor}", met)


@dataclass(frozen=True)
class Row:
    """A line of the table: a figure's key, its decimals, its target if any."""

    key: str
    digits: int = 0
    target: Target | None = None
    naive: bool = True


def rows(figures: Sequence[str], workloads: Sequence[str], pools: Sequence[str]) -> list[Row]:
    """The table's lines for the figures asked for."""
    out: list[Row] = []
    for workload in workloads:
        for figure in ("rate10", "rate100"):
            if figure not in figures:
                continue
            keys = {m: metric_key(workload, figure, m) for m in RATE_METRICS}
            p99 = keys["p99 ms"]
            if figure == "rate10":
                target = within_twice_naive(p99)
            else:
                target = under_ms_none_lost(p99, keys["lost"], 200)
            out += [Row(k, target=target if m == "p99 ms" else None) for m, k in keys.items()]
        if "burst" in figures:
            replies = metric_key(workload, "burst", "replies/s")
            out.append(Row(replies, target=at_least_naive(replies)))
            out += [
                Row(metric_key(workload, "burst", "lost")),
                Row(metric_key(workload, "burst", "doubled")),
            ]
            out += [Row(metric_key(workload, "burst", f"{CPU} {r}"), digits=1) for r in CPU_ROLES]
    if "events" in figures:
        out += [Row(events_key(what), naive=False) for what in ("on", "off", "cost %")]
    if "io" in figures:
        for pool in pools:
            out.append(Row(io_key(pool, "1 process replies/s"), digits=1))
            out.append(Row(io_key(pool, "4 processes replies/s"), digits=1, naive=False))
            key = io_key(pool, "scaling 4/(4x1)")
            out.append(Row(key, digits=2, target=at_least(key, 0.8), naive=False))
    return out


def summary(
    results: Mapping[str, Runs],
    table: Sequence[Row],
    header: str,
    notes: Sequence[str] = (),
) -> list[str]:
    """The printed table: each row's spread per side, the ratio of medians, the target."""
    width = max([len(r.key) for r in table] + [10])
    project, naive = results.get("project", []), results.get("naive", [])
    lines = [
        header,
        f"{'figure':<{width}} {SIDE_NAMES['project']:>24} {SIDE_NAMES['naive']:>24} "
        f"{'ratio':>7}  target",
    ]
    for row in table:
        p_vals = values(project, row.key)
        n_vals = values(naive, row.key) if row.naive else []
        rat = ratio(median_of(project, row.key), median_of(naive, row.key)) if row.naive else "-"
        target = ""
        if row.target is not None:
            target = f"{row.target.text}: {_verdict(row.target.met(project, naive))}"
        lines.append(
            f"{row.key:<{width}} {spread(p_vals, row.digits):>24} "
            f"{spread(n_vals, row.digits):>24} {rat:>7}  {target}".rstrip()
        )
    lines += list(notes)
    return lines


# -- the stacks --------------------------------------------------------------------------


class DemoWorker(WorkerProcess):
    """``celery -A worker worker`` as ``make demo`` starts it, with a chosen pool and size."""

    def __init__(
        self, env: dict[str, str], name: str, log_dir: Path, concurrency: int, pool: str
    ) -> None:
        argv = [sys.executable, "-m", "celery", "-A", "worker", "worker"]
        argv += ["-Q", "events,replies,ops", "-c", str(concurrency), "--pool", pool]
        argv += ["-n", f"{name}@%h", "--loglevel", "INFO"]
        Program.__init__(self, argv, env, name, log_dir)


@dataclass
class Stack:
    """What a figure needs of a running side: its REST URL, control API, greeting habit."""

    rest_url: str
    control: SandboxControl
    greets: bool
    tails: Callable[[], str]
    #: Turns the workers' task events off (this project only).
    disable_events: Callable[[], None] | None = None


@contextlib.contextmanager
def project_stack(
    log_dir: Path, workers: int, concurrency: int, pool: str, log_level: str
) -> Iterator[Stack]:
    """This project: Redis, the sandbox (limits lifted), 1 listener (PubNub), beat, workers."""
    env = {
        "NOTIFICATION_TRANSPORT": "pubnub",
        "RATE_LIMITS": ",".join(f"{g}={n}/60" for g, n in LIFTED.items()),
        "LOG_LEVEL": log_level,
    }
    with Cluster(log_dir, listeners=1, workers=0, sandbox_args=_sandbox_args(), env=env) as cluster:
        started: list[WorkerProcess] = []
        for n in range(workers):
            worker = DemoWorker(cluster.env, f"worker{n + 1}", log_dir, concurrency, pool)
            cluster.processes.append(worker)
            cluster.workers.append(worker)
            started.append(worker)
        cluster.wait_workers(started)

        def disable_events() -> None:
            answered = _broadcast(cluster.env["REDIS_URL"], "disable_events")
            if len(answered) < len(started):
                raise RuntimeError(f"disable_events: {len(answered)}/{len(started)} answered")

        yield Stack(
            cluster.sandbox.rest_url,
            cluster.sandbox.control,
            True,
            cluster.tails,
            disable_events,
        )


def _broadcast(broker_url: str, command: str) -> list[dict[str, Any]]:
    """Send a remote-control ``command`` to every worker on ``broker_url``; their answers."""
    app = Celery(broker=broker_url)
    try:
        answered: list[dict[str, Any]] = app.control.broadcast(command, reply=True, timeout=5.0)
        return answered
    finally:
        app.close()


@contextlib.contextmanager
def naive_stack(log_dir: Path) -> Iterator[Stack]:
    """The sandbox (limits lifted) and ``python -m bench.naive_bot``, once it says ready."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with SandboxProcess(*_sandbox_args()) as sandbox:
        argv = [sys.executable, "-m", "bench.naive_bot", "--rest-url", sandbox.rest_url]
        argv += ["--pubnub-origin", sandbox.pubnub_origin]
        bot = ManagedProcess(
            argv, name="naive_bot", cwd=ROOT, log=log_dir / "naive_bot.log", stdout="pipe"
        )
        with bot:
            line = bot.read_line(NAIVE_READY)
            if line.strip() != "ready":
                raise RuntimeError(f"naive_bot said {line!r}, not 'ready'")

            def tails() -> str:
                return f"\n--- naive_bot ({bot.log_path}) ---\n{bot.tail(20)}"

            yield Stack(sandbox.rest_url, sandbox.control, False, tails)


# -- requests and replies ----------------------------------------------------------------


class John:
    """John Smith: one login, one session per posting thread."""

    def __init__(self, rest_url: str, posters: int) -> None:
        # One login shared by every thread: a sixth login would revoke the first.
        self.token = login(rest_url, *JOHN)
        self.rest_url = rest_url
        self.people = [Person(rest_url, self.token) for _ in range(posters)]
        self.reader = self.people[0]

    def more_posters(self, posters: int) -> None:
        """At least ``posters`` sessions."""
        while len(self.people) < posters:
            self.people.append(Person(self.rest_url, self.token))

    def close(self) -> None:
        """Close every session."""
        for person in self.people:
            person.close()

    def new_chats(self, count: int, name: str) -> list[str]:
        """``count`` fresh Team chats of John and the bot."""
        chats = []
        for n in range(count):
            resp = self.reader.post(
                "/glip/groups",
                json={"type": "Team", "name": f"{name} {n + 1}", "members": [BOT_ID]},
            )
            resp.raise_for_status()
            chats.append(str(resp.json()["id"]))
        return chats

    def send(
        self, chats: Sequence[str], count: int, rate: float | None, posters: int
    ) -> dict[str, list[float]]:
        """``count`` requests round-robin over ``chats``, paced at ``rate`` a second (None: as
        fast as ``posters`` threads go); each chat's requests' creation times."""
        people = self.people[:posters]
        start = time.time() + 0.2  # every thread is running by then
        sent: dict[str, list[float]] = {chat: [] for chat in chats}
        lock = threading.Lock()

        def post(index: int) -> None:
            person = people[index]
            for n in range(index, count, len(people)):
                if rate is not None:
                    delay = start + n / rate - time.time()
                    if delay > 0:
                        time.sleep(delay)
                chat = chats[n % len(chats)]
                resp = person.post("/glip/posts", json={"groupId": chat, "text": REQUEST})
                resp.raise_for_status()
                created = _epoch(resp.json()["creationTime"])
                with lock:
                    sent[chat].append(created)

        with ThreadPoolExecutor(len(people)) as pool:
            list(pool.map(post, range(len(people))))
        return sent

    def chat_posts(self, chat: str) -> list[dict[str, Any]]:
        """Every post of a chat, newest first."""
        posts: list[dict[str, Any]] = []
        params: dict[str, Any] = {"groupId": chat, "recordCount": 250}
        while True:
            resp = self.reader.get("/glip/posts", params=params)
            resp.raise_for_status()
            body = resp.json()
            posts.extend(body["records"])
            token = (body.get("navigation") or {}).get("nextPageToken")
            if not token:
                return posts
            params["pageToken"] = token

    def replies(self, chats: Sequence[str]) -> dict[str, list[float]]:
        """The bot's help texts in each chat: their creation times."""
        return {
            chat: [
                _epoch(p["creationTime"])
                for p in self.chat_posts(chat)
                if str(p.get("creatorId")) == BOT_ID and p.get("text") == HELP_TEXT
            ]
            for chat in chats
        }

    def greeted(self, chats: Sequence[str], timeout: float) -> bool:
        """Wait until the bot posted something (its greeting) in every chat."""
        deadline = time.monotonic() + timeout
        left = list(chats)
        while left and time.monotonic() < deadline:
            left = [
                c
                for c in left
                if not any(str(p.get("creatorId")) == BOT_ID for p in self.chat_posts(c))
            ]
            if left:
                time.sleep(0.25)
        return not left

    def wait_replies(self, sent: Mapping[str, Sequence[float]]) -> dict[str, list[float]]:
        """Read the chats until each request is answered, or as the module's docstring says."""
        expected = sum(len(v) for v in sent.values())
        last_post = max((t for v in sent.values() for t in v), default=time.time())
        seen, changed = -1, time.time()
        while True:
            found = self.replies(list(sent))
            count = sum(len(v) for v in found.values())
            now = time.time()
            if count != seen:
                seen, changed = count, now
            if count >= expected:
                time.sleep(GRACE)
                return self.replies(list(sent))
            if now > last_post + WAIT_CAP or (
                now > last_post + REPLY_WAIT and now - changed > QUIET
            ):
                return found
            time.sleep(POLL)

    def drain(self, sent: Mapping[str, Sequence[float]], counted: int) -> None:
        """After the count: wait, uncounted, until no reply came for a while (at most
        :data:`DRAIN_CAP` s), so that a backlog does not run into the next figure."""
        expected = sum(len(v) for v in sent.values())
        started = time.monotonic()
        seen, changed = counted, started
        while seen < expected and time.monotonic() - started < DRAIN_CAP:
            time.sleep(POLL)
            count = sum(len(v) for v in self.replies(list(sent)).values())
            if count != seen:
                seen, changed = count, time.monotonic()
            elif time.monotonic() - changed > QUIET:
                break
        if seen > counted:
            print(
                f"    ({seen - counted} more replies came in {time.monotonic() - started:.0f} s "
                "after the count; not counted)",
                file=sys.stderr,
            )


def phase(
    john: John, chats: Sequence[str], count: int, rate: float | None, posters: int
) -> dict[str, float]:
    """Send, wait, pair: one phase's figures, and the CPU each role spent per reply."""
    before = cpu.snapshot()
    sent = john.send(chats, count, rate, posters)
    found = john.wait_replies(sent)
    after = cpu.snapshot()
    john.drain(sent, sum(len(v) for v in found.values()))
    figures = phase_figures([t for v in sent.values() for t in v], pair_replies(sent, found))
    answered = count - figures["lost"]
    if answered > 0:
        used = cpu.spent(before, after)
        figures.update({f"{CPU} {role}": 1000 * s / answered for role, s in used.items()})
        figures[f"{CPU} total"] = 1000 * sum(used.values()) / answered
    return figures


def warm_up(john: John, stack: Stack) -> None:
    """A few requests over four chats, every one answered, before anything is measured."""
    chats = john.new_chats(4, "warm-up")
    sent = john.send(chats, WARMUP_POSTS, None, min(4, len(john.people)))
    deadline = time.monotonic() + WARMUP_TIMEOUT
    while time.monotonic() < deadline:
        if sum(len(v) for v in john.replies(chats).values()) >= WARMUP_POSTS:
            return
        time.sleep(0.25)
    got = sum(len(v) for v in john.replies(chats).values())
    raise RuntimeError(
        f"warm-up: {got}/{sum(len(v) for v in sent.values())} answered" + stack.tails()
    )


def settle(john: John, stack: Stack, chats: Sequence[str]) -> None:
    """Let the project's greetings of new chats go out before anything is measured."""
    if stack.greets and not john.greeted(chats, GREETING_TIMEOUT):
        print("  (not every chat was greeted within 30 s; going on)", file=sys.stderr)
    time.sleep(1.0)


# -- runs ------------------------------------------------------------------------------------


def main_figures(stack: Stack, args: argparse.Namespace) -> dict[str, float]:
    """The 10/s, 100/s and burst figures of each workload, on one running side."""
    john = John(stack.rest_url, args.posters)
    try:
        warm_up(john, stack)
        plan: list[tuple[str, str, list[str]]] = []
        for workload in args.workloads:
            for figure in ("rate10", "rate100", "burst"):
                if figure in args.figures:
                    chats = john.new_chats(1 if workload == "single" else args.chats, figure)
                    plan.append((workload, figure, chats))
        settle(john, stack, [c for _, _, chats in plan for c in chats])
        out: dict[str, float] = {}
        for workload, figure, chats in plan:
            rate = RATES.get(figure)
            count = round(rate * args.seconds) if rate is not None else args.burst
            figures = phase(john, chats, count, rate, args.posters)
            print(f"    {workload} {LABELS[figure]}: {_line(figures)}", file=sys.stderr)
            out.update({metric_key(workload, figure, m): v for m, v in figures.items()})
        if "events" in args.figures and stack.disable_events is not None:
            out.update(events_figures(john, stack, args))
        return out
    finally:
        john.close()


def events_figures(john: John, stack: Stack, args: argparse.Namespace) -> dict[str, float]:
    """A many-chats burst with the workers' task events on, then one with them off, and what
    the events cost: 1 - replies/s with them / without them."""
    assert stack.disable_events is not None
    count = max(args.burst, EVENTS_BURST)
    on_chats, off_chats = john.new_chats(args.chats, "events on"), john.new_chats(args.chats, "off")
    settle(john, stack, [*on_chats, *off_chats])
    out: dict[str, float] = {}
    for state, chats in (("on", on_chats), ("off", off_chats)):
        if state == "off":
            stack.disable_events()
        figures = phase(john, chats, count, None, args.posters)
        print(f"    events {state}, burst {count}: {_line(figures)}", file=sys.stderr)
        out[events_key(state)] = figures.get("replies/s", 0.0)
    if out[events_key("off")]:
        out[events_key("cost %")] = 100.0 * (1.0 - out[events_key("on")] / out[events_key("off")])
    return out


def events_key(what: str) -> str:
    """A key of the task-events figure: replies/s with them "on", "off", or their "cost %"."""
    return f"{EVENTS_KEY} {what}" + (" replies/s" if what in ("on", "off") else "")


def io_figure(stack: Stack, args: argparse.Namespace) -> float | None:
    """replies/s of a burst over many chats with every POST /glip/posts held 100 ms."""
    john = John(stack.rest_url, args.posters)
    try:
        john.more_posters(IO_POSTERS)
        warm_up(john, stack)
        chats = john.new_chats(args.chats, "io")
        settle(john, stack, chats)
        stack.control.fail("POST", "/restapi/v1.0/glip/posts", count=10**9, hang=IO_DELAY)
        try:
            figures = phase(john, chats, args.io_posts, None, IO_POSTERS)
        finally:
            stack.control.clear_faults()
        print(f"    io: {_line(figures)}", file=sys.stderr)
        return figures.get("replies/s")
    finally:
        john.close()


def _line(figures: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in figures.items())


def _attempt(what: str, failures: list[str], run: Callable[[], None]) -> None:
    """Run one side's measurement; a failure is reported and counted, not raised."""
    try:
        run()
    except Exception as exc:
        failures.append(f"{what}: {type(exc).__name__}: {exc}")
        print(f"  {what} FAILED:\n{traceback.format_exc()}", file=sys.stderr)


def one_repetition(
    repeat: int, args: argparse.Namespace, log_dir: Path, failures: list[str]
) -> dict[str, dict[str, float]]:
    """Both sides once: their figures by side."""
    got: dict[str, dict[str, float]] = {side: {} for side in SIDES}
    where = log_dir / f"run{repeat + 1}"
    main = [f for f in args.figures if f != "io"]
    if main:
        for side in SIDES:  # one after the other: both see the same machine
            if side == "naive" and main == ["events"]:
                continue  # the events figure is this project's only

            def run_main(side: str = side) -> None:
                print(f"run {repeat + 1} {SIDE_NAMES[side]}", file=sys.stderr)
                stack = (
                    project_stack(
                        where / side, DEMO_WORKERS, DEMO_CONCURRENCY, "prefork", args.log_level
                    )
                    if side == "project"
                    else naive_stack(where / side)
                )
                with stack as running:
                    got[side].update(main_figures(running, args))

            _attempt(f"run {repeat + 1} {side}", failures, run_main)
    if "io" in args.figures:
        naive_io: list[float] = []

        def run_naive_io() -> None:
            print(f"run {repeat + 1} naive, io", file=sys.stderr)
            with naive_stack(where / "naive-io") as running:
                value = io_figure(running, args)
                if value is not None:
                    naive_io.append(value)

        _attempt(f"run {repeat + 1} naive io", failures, run_naive_io)
        for pool in args.pools:
            if pool == "gevent" and not gevent_installed():
                continue
            measured: dict[int, float] = {}
            for processes in IO_PROCESSES:

                def run_io(
                    pool: str = pool,
                    processes: int = processes,
                    measured: dict[int, float] = measured,
                ) -> None:
                    print(
                        f"run {repeat + 1} project io, {pool}, {processes} process(es)",
                        file=sys.stderr,
                    )
                    concurrency = args.gevent_concurrency if pool == "gevent" else args.concurrency
                    with project_stack(
                        where / f"io-{pool}-{processes}",
                        processes,
                        concurrency,
                        pool,
                        args.log_level,
                    ) as running:
                        value = io_figure(running, args)
                        if value is not None:
                            measured[processes] = value

                _attempt(f"run {repeat + 1} io {pool} x{processes}", failures, run_io)
            if 1 in measured:
                got["project"][io_key(pool, "1 process replies/s")] = measured[1]
            if 4 in measured:
                got["project"][io_key(pool, "4 processes replies/s")] = measured[4]
            if 1 in measured and 4 in measured:
                got["project"][io_key(pool, "scaling 4/(4x1)")] = scaling(measured[4], measured[1])
            if naive_io:
                got["naive"][io_key(pool, "1 process replies/s")] = naive_io[0]
    return got


def gevent_installed() -> bool:
    """Whether Celery's gevent pool could run here."""
    return importlib.util.find_spec("gevent") is not None


def notes(args: argparse.Namespace) -> list[str]:
    """What the reader needs to read the table right."""
    out = [
        "latency: reply creationTime - request creationTime (sandbox clock, ms); replies/s: "
        "answered requests / (first request to last reply)",
        "lost: unanswered >= 30 s after the last request (longer while replies still came); "
        "doubled: a reply with no request waiting",
        "targets judged on the medians; ratio = this project / naive, medians of the same run",
    ]
    if "io" in args.figures:
        out.append(
            f"io: every POST /glip/posts held {IO_DELAY * 1000:.0f} ms; {args.io_posts} requests "
            f"over {args.chats} chats; this project -c {args.concurrency} per process "
            f"(gevent: -c {args.gevent_concurrency}); "
            "naive column: the naive bot (one process) under the same delay"
        )
        if "gevent" in args.pools and not gevent_installed():
            out.append("io gevent: gevent is not installed; skipped")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run every repetition, print the table; exit status 1 if a run failed."""
    args = parse_args(argv)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="bench-replies-"))
    results: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    failures: list[str] = []
    StopSignals().install()  # kill or Ctrl-C: every stack started is stopped on the way out
    for repeat in range(args.repeat):
        try:
            got = one_repetition(repeat, args, log_dir, failures)
        except Interrupted as exc:
            print(f"{exc}: stopped", file=sys.stderr)
            return 128 + exc.signum
        for side in SIDES:
            results[side].append(got[side])
    header = (
        f"replies end to end, {args.repeat} run(s) (min / median / max), "
        f"{args.seconds:g} s per paced figure, burst {args.burst}, "
        f"{args.chats} chats for 'many'; this project: 1 listener (PubNub), "
        f"{DEMO_WORKERS} workers -c {DEMO_CONCURRENCY} (make demo); logs in {log_dir}"
    )
    table = rows(args.figures, args.workloads, args.pools)
    for line in summary(results, table, header, notes(args)):
        print(line)
    for failure in failures:
        print(f"FAILED {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
