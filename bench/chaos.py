"""The fault matrix (``make chaos``): the whole stack on free ports, one fault at a time.

Starts redis-server with an append-only file, the sandbox, two listeners,
``--workers`` Celery workers and beat, each as its own program on free
loopback ports, the listeners on ``--transport`` (``pubnub``, the default, or
``websocket``: the sandbox's gateway); then runs each fault (``--faults``,
default all; see ``--list``) on requests of its own: John Smith asks SmartFriend
``convert <amount> USD to EUR`` in a fresh Team chat, each amount unique,
while the fault strikes. Once the answers settle (or the fault's settle
timeout passes), the chat is read through the REST API as John (a line
on stderr); once every fault has run, every chat is read again, since a
later fault may answer an earlier fault's requests again, and the table is
printed on stdout, one line per fault:

  sent      requests John sent
  once      requests answered exactly once
  lost      requests with no answer in the chat
  doubled   requests answered more than once
  order     answers out of the requests' order (the fewest that would have to move)
  settle s  seconds from the fault's end to every answer in and nothing in flight
            ("-": not within the fault's settle timeout)

A fault that does not apply to the transport (``--list`` says which) is a
line of dashes whose note says why it was skipped. Then a summary. The
exit status is 0 when every fault shows 0 lost and 0 doubled, 1 otherwise.
Everything it started is stopped when it ends: normally, on an error, on
Ctrl-C, SIGTERM or SIGHUP. Logs of every program stay in the directory it
prints (``--log-dir``).

    python -m bench.chaos [--transport websocket] [--faults none,429-storm] [--requests 20]
                          [--repeat 3] [--workers 3]

Faults (``--list``; each runs over both transports unless it says otherwise):

  none                     baseline: nothing breaks
  subscription-deleted     the platform deletes the subscription
  late-post                POSTs time out on the client, the platform makes them later
  worker-killed            kill -9 of a whole worker mid-POST, then a new worker
  leader-killed            kill -9 of the leading listener
  leader-stopped           SIGSTOP of the leader past the lease TTL, then SIGCONT
  redis-restarted          Redis stopped and started on its AOF
  429-storm                429 with Retry-After on the bot's POSTs
  503-burst                503 without Retry-After on the bot's POSTs
  duplicates               every notification delivered twice (PubNub only)
  pubnub-paused            PubNub delivers nothing for a while; over WebSocket the
                           gateway cuts the leader's socket and refuses new ones as long
  gateway-session-expired  the gateway ends the session while the listener is cut off
                           (WebSocket only)
  malformed                1,000 malformed messages among real traffic (PubNub only)

Over WebSocket, the faults on the bot's POSTs hold the gateway (as in
pubnub-paused) for the moment it takes to set them, where PubNub is paused.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.chaos_faults import FAULTS, Fault
from bench.chaos_trial import JOHN, PUBNUB, TRANSPORTS, WEBSOCKET, Outcome, Trial
from devtools.cluster import Cluster, ClusterError
from devtools.interrupts import Interrupted, StopSignals
from devtools.processes import ProcessStartError

LISTENERS = 2
DEFAULT_WORKERS = 3
DEFAULT_REQUESTS = 20
DEFAULT_REPEAT = 3
DEFAULT_PUBNUB_PAUSE = 30.0
#: The workers' HTTP timeout: short, so that a POST that hangs times out soon.
HTTP_TIMEOUT = 5
#: Rate limits well above the matrix's traffic (RingCentral's Light is 50 a minute):
#: the matrix is about losing and doubling, and the limiter has tests of its own.
RATE_LIMITS = {"Light": 1000, "Medium": 400, "Auth": 50}
#: Over WebSocket every connection attempt is a ``wstoken`` call (Auth group), and a
#: held gateway makes the leader try again every 1 to 30 s while the hold lasts.
WEBSOCKET_RATE_LIMITS = {**RATE_LIMITS, "Auth": 500}
FIRST_AMOUNT = 101

COLUMNS = ("fault", "sent", "once", "lost", "doubled", "order", "settle s", "notes")
ROW = "{:<24} {:>5} {:>5} {:>5} {:>7} {:>5} {:>8}  {}"
LIST_ROW = "{:<24} {:<17} {}"


def rate_limits(transport: str = PUBNUB) -> dict[str, int]:
    """The matrix's budget per minute of each rate-limit group, for the sandbox and the
    programs' own limiter alike."""
    return WEBSOCKET_RATE_LIMITS if transport == WEBSOCKET else RATE_LIMITS


def sandbox_args(transport: str = PUBNUB) -> tuple[str, ...]:
    """The sandbox's command line: the matrix's rate limits."""
    args: list[str] = []
    for group, count in rate_limits(transport).items():
        args += ["--rate-limit", f"{group}={count}"]
    return tuple(args)


def program_env(transport: str = PUBNUB) -> dict[str, str]:
    """What the matrix sets in the programs' environment, over the cluster's own."""
    return {
        "NOTIFICATION_TRANSPORT": transport,
        "RINGCENTRAL_HTTP_TIMEOUT": str(HTTP_TIMEOUT),
        "RATE_LIMITS": ",".join(f"{g}={n}/60" for g, n in rate_limits(transport).items()),
    }


def cluster(log_dir: Path, workers: int = DEFAULT_WORKERS, transport: str = PUBNUB) -> Cluster:
    """The matrix's stack (not started): two listeners on ``transport``, ``workers``
    workers, beat."""
    return Cluster(
        log_dir,
        listeners=LISTENERS,
        workers=workers,
        sandbox_args=sandbox_args(transport),
        env=program_env(transport),
    )


def plan(faults: list[Fault], repeat: int, transport: str = PUBNUB) -> Iterator[tuple[str, Fault]]:
    """Each line to run: its label and fault (a repeated fault once per repetition; a
    fault that does not apply to ``transport`` once, to say so)."""
    for fault in faults:
        times = repeat if fault.repeats and fault.applies(transport) else 1
        for n in range(1, times + 1):
            yield (f"{fault.name} {n}/{times}" if times > 1 else fault.name), fault


def run_matrix(
    stack: Cluster,
    faults: list[Fault],
    *,
    requests: int = DEFAULT_REQUESTS,
    repeat: int = DEFAULT_REPEAT,
    pubnub_pause: float = DEFAULT_PUBNUB_PAUSE,
    show: Callable[[Outcome], None] = lambda _o: None,
) -> list[Outcome]:
    """Run ``faults`` one after another on a started stack; one :class:`Outcome` each.

    The faults strike the stack's transport (its ``NOTIFICATION_TRANSPORT``); a
    fault that does not apply to it is a line that says so, and nothing runs.
    A fault that raises is a line with its error (and counts as failed); the
    stack is made whole again (listeners and workers replaced) before the next.
    """
    transport = stack.settings.notification_transport
    john = stack.person(*JOHN)
    workers = len(stack.live_workers())
    outcomes = []
    trials: list[tuple[Trial, Outcome]] = []
    next_amount = FIRST_AMOUNT
    for label, fault in plan(faults, repeat, transport):
        outcome = Outcome(label)
        if not fault.applies(transport):
            outcome.skipped = fault.skip[transport]
            outcomes.append(outcome)
            show(outcome)
            continue
        amounts = list(range(next_amount, next_amount + requests))
        next_amount += requests
        _progress(f"{label}: {fault.description}…")
        try:
            trial = Trial(stack, john, amounts, f"Chaos {label}", pubnub_pause, transport)
            trials.append((trial, outcome))
            try:
                fault.run(trial)
                outcome.settle = trial.settle(fault.settle_timeout, fault.quiet)
            finally:
                trial.count(outcome)
        except Exception as exc:  # the line says so, and the matrix goes on
            outcome.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            _progress(traceback.format_exc())
        outcomes.append(outcome)
        show(outcome)
        _make_whole(stack, workers)
    for trial, outcome in trials:
        _recount(trial, outcome)
    return outcomes


def _recount(trial: Trial, outcome: Outcome) -> None:
    """Count a fault's chat again once every fault has run: a later fault may have
    answered its requests again (or deleted answers), and the last count is the one
    that stands, with a note saying what changed."""
    try:
        later = trial.count(Outcome(outcome.fault))
    except Exception as exc:  # the stack may be broken by now: the first count stands
        outcome.notes.append(f"not counted again: {type(exc).__name__}")
        return
    fields = ("once", "lost", "doubled", "out_of_order")
    changed = [f for f in fields if getattr(later, f) != getattr(outcome, f)]
    if changed:
        was = ", ".join(f"{f} {getattr(outcome, f)}->{getattr(later, f)}" for f in changed)
        outcome.notes.append(f"after later faults: {was}")
        for f in changed:
            setattr(outcome, f, getattr(later, f))


def _make_whole(stack: Cluster, workers: int) -> None:
    """Replace the listeners and workers a fault left dead."""
    while len(stack.live_listeners()) < LISTENERS:
        stack.start_listener()
    started = [stack.start_worker() for _ in range(workers - len(stack.live_workers()))]
    if started:
        stack.wait_workers(started)
    stack.wait_leader()


def row(outcome: Outcome) -> str:
    """One fixed-width line of the table (dashes and the reason for a skipped fault)."""
    if outcome.skipped is not None:
        return ROW.format(outcome.fault, *"------", f"skipped: {outcome.skipped}")
    settle = f"{outcome.settle:.1f}" if outcome.settle is not None else "-"
    notes = "; ".join(([f"ERROR {outcome.error}"] if outcome.error else []) + outcome.notes)
    values = (outcome.once, outcome.lost, outcome.doubled, outcome.out_of_order)
    return ROW.format(outcome.fault, outcome.sent, *values, settle, notes)


def table(outcomes: list[Outcome]) -> str:
    """The header, one line per fault, and the summary."""
    return "\n".join([ROW.format(*COLUMNS), *map(row, outcomes), summary(outcomes)])


def summary(outcomes: list[Outcome]) -> str:
    """The last line: totals, which faults were skipped, which lost or doubled answers."""
    ran = [o for o in outcomes if o.skipped is None]
    skipped = [o.fault for o in outcomes if o.skipped is not None]
    failed = [o.fault for o in ran if not o.ok]
    sent = sum(o.sent for o in ran)
    lost = sum(o.lost for o in ran)
    doubled = sum(o.doubled for o in ran)
    order = sum(o.out_of_order for o in ran)
    totals = (
        f"{len(ran)} faults, {sent} requests: {lost} lost, {doubled} doubled, {order} out of order"
    )
    if skipped:
        totals += f" ({len(skipped)} skipped: {', '.join(skipped)})"
    if not failed:
        return f"{totals}. OK: every fault 0 lost, 0 doubled."
    return f"{totals}. FAILED: {', '.join(failed)}."


def fault_list() -> str:
    """What ``--list`` prints: each fault, the transports it runs over, what it does,
    and what differs over WebSocket (or why it is skipped there)."""
    lines = []
    for fault in FAULTS.values():
        repeats = " (--repeat)" if fault.repeats else ""
        over = " ".join(fault.transports)
        lines.append(LIST_ROW.format(fault.name, over, fault.description + repeats))
        for transport, why in fault.skip.items():
            lines.append(LIST_ROW.format("", "", f"{transport}: skipped ({why})"))
        if fault.over_websocket:
            lines.append(LIST_ROW.format("", "", f"websocket: {fault.over_websocket}"))
    return "\n".join(lines)


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _fault_list(text: str) -> list[Fault]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in FAULTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown fault(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(FAULTS)}"
        )
    return [FAULTS[name] for name in names]


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="python -m bench.chaos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--transport",
        choices=TRANSPORTS,
        default=PUBNUB,
        help="how the listeners receive notifications (NOTIFICATION_TRANSPORT) (%(default)s)",
    )
    p.add_argument(
        "--faults",
        type=_fault_list,
        default=list(FAULTS.values()),
        help="comma-separated faults to run, in order (default: all; see --list)",
    )
    p.add_argument(
        "--repeat",
        type=_positive,
        default=DEFAULT_REPEAT,
        help="runs of each repeated fault (leader-stopped) (%(default)s)",
    )
    p.add_argument(
        "--requests",
        type=_positive,
        default=DEFAULT_REQUESTS,
        help="John's requests per fault (%(default)s)",
    )
    p.add_argument(
        "--workers", type=_positive, default=DEFAULT_WORKERS, help="Celery workers (%(default)s)"
    )
    p.add_argument(
        "--pubnub-pause",
        type=float,
        default=DEFAULT_PUBNUB_PAUSE,
        help="seconds PubNub stays paused (over WebSocket: the gateway held) in "
        "pubnub-paused (%(default)s)",
    )
    p.add_argument(
        "--log-dir",
        type=Path,
        default=None,
        help="where the programs' logs go (default: a new temporary directory)",
    )
    p.add_argument("--list", action="store_true", help="list the faults and exit")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the matrix; 0 when no fault lost or doubled an answer, else 1."""
    args = parse_args(argv)
    if args.list:
        print(fault_list())
        return 0
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="glipbot-chaos-"))
    signals = StopSignals().install()
    stack = cluster(log_dir, args.workers, args.transport)
    outcomes: list[Outcome] = []
    try:
        _progress(
            f"Starting the stack (2 listeners over {args.transport}, {args.workers} workers); "
            f"logs in {log_dir}"
        )
        started = time.monotonic()
        stack.start()
        _progress(f"The stack is up ({time.monotonic() - started:.0f} s).")
        outcomes = run_matrix(
            stack,
            args.faults,
            requests=args.requests,
            repeat=args.repeat,
            pubnub_pause=args.pubnub_pause,
            show=lambda o: _progress(row(o)),
        )
        print(table(outcomes), flush=True)
        return 0 if all(o.ok for o in outcomes) else 1
    except Interrupted as exc:
        _progress(f"{exc}: stopping everything")
        return 128 + exc.signum
    except (ClusterError, ProcessStartError) as exc:
        _progress(f"error: {exc}")
        return 1
    finally:
        signals.ignore()  # a second Ctrl-C must not cut the clean-up short
        stack.stop()
        _progress(f"Stopped everything; logs in {log_dir}")


if __name__ == "__main__":
    sys.exit(main())
