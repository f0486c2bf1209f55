"""Listener ingest over each transport, side by side: events per second through the listener.

For each repetition and each transport (PubNub, WebSocket), starts Redis,
the sandbox (rate limits lifted) and one real listener (``python -m
listener``) with no workers, then has ``--posters`` threads of John Smith
post ``--events`` posts to his chat with the bot as fast as the sandbox
takes them, and watches the ``events`` queue until every post is there.
Prints per transport, min/median/max over the repetitions:

  posted/s    posts the sandbox accepted per second (the offered load)
  ingest/s    events per second that reached the ``events`` queue, from the
              first post to the last event queued (never above the offered load)
  p50/p99 ms  from the post's creation (its notification's timestamp) to the
              moment the event was seen in the queue (polled every 5 ms)

and the ratio WebSocket / PubNub of each median, measured in the same run.

Then the flood figure (:mod:`bench.ingest_flood`; ``--no-flood`` skips it): in
the same clusters, once the posts above are queued, the sandbox makes
``--flood`` posts by John in his chat with the bot at each ``--flood-rate``
(posts per second, or ``max``; default 5000, then max) through its control API
(``POST /sandbox/posts/flood``), far faster than clients posting over HTTP,
and the ``events`` queue is watched until every post is there or nothing
more comes for 10 s. Prints per transport and offered rate, min/median/max:

  offered/s   posts per second the sandbox actually made (the offered load)
  ingest/s    distinct flooded posts queued per second, from the flood's start
              to the last event queued
  lost        flooded posts never queued (PubNub keeps the last 100 messages
              of a channel; the listener should backfill what overflowed)
  full polls  the listener's ``pubnub_full_polls`` (answers of 100: overflow)
  backfilled  the listener's ``backfill_recovered`` (posts recovered over REST)

and a target line: whether each transport reached 5000 events/s end to end
(median ingest/s at some offered rate, no event lost in any run).
Asserts nothing; figures come from this program, on whatever machine runs it.

    python -m bench.ingest [--events 1000] [--repeat 3] [--posters 6]
        [--flood 20000] [--flood-rate 5000 ...] [--no-flood]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from bench.ingest_flood import TARGET, measure_flood, rate_label, verdict
from devtools.cluster import Cluster
from devtools.interrupts import Interrupted, StopSignals
from sandbox.flood import MAX_COUNT as MAX_FLOOD
from sandbox.testing import Person, login

TRANSPORTS = ("pubnub", "websocket")
JOHN = ("john.smith@sandbox.test", "john")
BOT_ID = "400000001"
LIFTED = {"Light": 1_000_000, "Medium": 1_000_000, "Heavy": 1_000_000, "Auth": 1_000_000}
POLL = 0.005
DEFAULT_FLOOD = 20_000
#: The flood's offered rates: the target's 5,000/s, and as fast as the sandbox makes posts.
DEFAULT_FLOOD_RATES: tuple[float | None, ...] = (5000.0, None)


def _sandbox_args() -> tuple[str, ...]:
    args: list[str] = []
    for group, limit in LIFTED.items():
        args += ["--rate-limit", f"{group}={limit}"]
    return tuple(args)


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


class QueueWatch(threading.Thread):
    """Polls the ``events`` queue and notes when each new event was first seen."""

    def __init__(self, cluster: Cluster, expected: int) -> None:
        super().__init__(daemon=True)
        self._redis = cluster.redis
        self._expected = expected
        self.latencies: list[float] = []
        self.last_seen: float | None = None
        self.done = threading.Event()
        self._stop_asked = threading.Event()

    def run(self) -> None:
        seen = 0
        while not self._stop_asked.is_set() and seen < self._expected:
            length = self._redis.llen("events")
            if length > seen:
                now = time.time()
                # LPUSH: the newest are at the head; read only what is new.
                for raw in self._redis.lrange("events", 0, length - seen - 1):
                    body = json.loads(base64.b64decode(json.loads(raw)["body"]))
                    envelope = body[1]["envelope"]
                    if envelope["body"].get("eventType") == "PostAdded":
                        self.latencies.append(now - _epoch(envelope["timestamp"]))
                seen = length
                self.last_seen = now
            time.sleep(POLL)
        self.done.set()

    def stop(self) -> None:
        self._stop_asked.set()


def _post_all(cluster: Cluster, chat: str, events: int, posters: int) -> tuple[float, float]:
    """Post ``events`` posts from ``posters`` threads; (start, end) epoch seconds."""
    # One login shared by every thread: a sixth login would revoke the first.
    token = login(cluster.sandbox.rest_url, *JOHN)
    people = [Person(cluster.sandbox.rest_url, token) for _ in range(posters)]
    share = [range(i, events, posters) for i in range(posters)]

    def post(index: int) -> None:
        person = people[index]
        for n in share[index]:
            person.post(
                "/glip/posts", json={"groupId": chat, "text": f"load {n}"}
            ).raise_for_status()

    started = time.time()
    try:
        with ThreadPoolExecutor(posters) as pool:
            list(pool.map(post, range(posters)))
    finally:
        for person in people:
            person.close()
    return started, time.time()


def one_run(
    transport: str,
    events: int,
    posters: int,
    log_dir: Path,
    flood: int = DEFAULT_FLOOD,
    flood_rates: Sequence[float | None] = (),
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """One transport, one repetition: the figures of the module's docstring, then one
    flood figure per rate of ``flood_rates`` (none when it is empty)."""
    env = {
        "NOTIFICATION_TRANSPORT": transport,
        "RATE_LIMITS": ",".join(f"{g}={n}/60" for g, n in LIFTED.items()),
        "LOG_LEVEL": "WARNING",
    }
    with Cluster(
        log_dir / transport, listeners=1, workers=0, sandbox_args=_sandbox_args(), env=env
    ) as cluster:
        john = cluster.person(*JOHN)
        chat = john.post("/glip/groups", json={"type": "PrivateChat", "members": [{"id": BOT_ID}]})
        chat.raise_for_status()
        chat_id = str(chat.json()["id"])
        # One event first: the subscription is live and the queue holds it.
        john.post("/glip/posts", json={"groupId": chat_id, "text": "warm-up"}).raise_for_status()
        deadline = time.monotonic() + 30
        while cluster.redis.llen("events") < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        cluster.redis.delete("events")
        watch = QueueWatch(cluster, events)
        watch.start()
        started, ended = _post_all(cluster, chat_id, events, posters)
        if not watch.done.wait(timeout=120):
            watch.stop()
            raise RuntimeError(f"{transport}: only {len(watch.latencies)}/{events} events queued")
        assert watch.last_seen is not None
        latencies = sorted(watch.latencies)
        figures = {
            "posted/s": events / (ended - started),
            "ingest/s": events / (watch.last_seen - started),
            "p50 ms": 1000 * latencies[len(latencies) // 2],
            "p99 ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        }
        floods = [measure_flood(cluster, chat_id, JOHN[0], flood, rate) for rate in flood_rates]
        return figures, floods


def _spread(values: list[float]) -> str:
    return f"{min(values):.0f} / {statistics.median(values):.0f} / {max(values):.0f}"


def _flood_rate(text: str) -> float | None:
    """``--flood-rate``: posts per second (> 0), or ``max`` for as fast as the sandbox can."""
    if text == "max":
        return None
    try:
        rate = float(text)
    except ValueError:
        rate = 0.0
    if not rate > 0 or rate == float("inf"):
        raise argparse.ArgumentTypeError(f"not a positive number of posts per second: {text}")
    return rate


def _print_floods(
    results: dict[str, dict[str, list[dict[str, float]]]], flood: int, repeat: int
) -> None:
    """The flood table under the first one, and the target line."""
    print(
        f"listener flood, {flood} posts per run into one chat, {repeat} runs (min / median / max)"
    )
    some = next(iter(next(iter(results.values())).values()))
    names = list(some[0])
    print(f"{'transport':<10} {'offered at':>10} " + " ".join(f"{n:>20}" for n in names))
    for transport, runs in results.items():
        for label, figures in runs.items():
            print(
                f"{transport:<10} {label:>10} "
                + " ".join(f"{_spread([r[n] for r in figures]):>20}" for n in names)
            )
    print(
        f"target ingest/s >= {TARGET:.0f}, none lost: "
        + "; ".join(verdict(transport, runs) for transport, runs in results.items())
    )


def main(argv: list[str] | None = None) -> int:
    """Run every repetition, print the table; exit status 1 if a run failed."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--events", type=int, default=1000, help="posts per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per transport")
    parser.add_argument("--posters", type=int, default=6, help="posting threads")
    parser.add_argument(
        "--log-dir", type=Path, default=None, help="programs' logs (default: a temp dir)"
    )
    parser.add_argument(
        "--flood", type=int, default=DEFAULT_FLOOD, help="posts per flood (the flood figure)"
    )
    parser.add_argument(
        "--flood-rate",
        type=_flood_rate,
        action="append",
        help="offered posts/s of a flood, or max; repeatable (default 5000 and max)",
    )
    parser.add_argument("--no-flood", action="store_true", help="skip the flood figure")
    args = parser.parse_args(argv)
    if not 1 <= args.flood <= MAX_FLOOD:
        parser.error(f"--flood must be from 1 to {MAX_FLOOD}")
    rates: list[float | None] = (
        [] if args.no_flood else args.flood_rate or list(DEFAULT_FLOOD_RATES)
    )
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    results: dict[str, list[dict[str, float]]] = {t: [] for t in TRANSPORTS}
    floods: dict[str, dict[str, list[dict[str, float]]]] = {
        t: {rate_label(rate): [] for rate in rates} for t in TRANSPORTS
    }
    StopSignals().install()  # kill or Ctrl-C: every stack started is stopped on the way out
    for repeat in range(args.repeat):
        for transport in TRANSPORTS:  # interleaved: both see the same machine load
            try:
                figures, flooded = one_run(
                    transport, args.events, args.posters, log_dir / str(repeat), args.flood, rates
                )
            except Interrupted as exc:
                print(f"{exc}: stopped", file=sys.stderr)
                return 128 + exc.signum
            results[transport].append(figures)
            print(
                f"run {repeat + 1} {transport}: "
                + ", ".join(f"{k} {v:.0f}" for k, v in figures.items()),
                file=sys.stderr,
            )
            for rate, flood_figures in zip(rates, flooded, strict=True):
                floods[transport][rate_label(rate)].append(flood_figures)
                print(
                    f"run {repeat + 1} {transport} flood at {rate_label(rate)}: "
                    + ", ".join(f"{k} {v:.0f}" for k, v in flood_figures.items()),
                    file=sys.stderr,
                )
    names = list(results[TRANSPORTS[0]][0])
    print(
        f"listener ingest, {args.events} posts by {args.posters} threads, {args.repeat} runs "
        "(min / median / max); logs in " + str(log_dir)
    )
    print(f"{'transport':<10} " + " ".join(f"{n:>20}" for n in names))
    for transport in TRANSPORTS:
        print(
            f"{transport:<10} "
            + " ".join(f"{_spread([r[n] for r in results[transport]]):>20}" for n in names)
        )
    ratios = []
    for n in names:
        ws = statistics.median(r[n] for r in results["websocket"])
        pn = statistics.median(r[n] for r in results["pubnub"])
        ratios.append(f"{ws / pn:.2f}" if pn else "-")
    print(f"{'ws/pubnub':<10} " + " ".join(f"{r:>20}" for r in ratios))
    if rates:
        _print_floods(floods, args.flood, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
