"""A short subset of the fault matrix (``make chaos``) on its own stack, through its code path.

The whole stack as the matrix starts it (redis-server with an append-only
file, the sandbox, two listeners, two workers and beat, on free ports) runs
three cheap faults on requests of their own: none, a storm of 429s on the
bot's answers, and every notification delivered twice. Each must leave
every request answered exactly once. A second stack, its listeners over the
sandbox's WebSocket gateway, runs the gateway's own faults briefly: its
socket cut and refused (the session recovered and replayed), its session
ended (recovery fails, the chats are backfilled), and a PubNub-only fault
skipped. No timing is asserted: the full matrix, which also measures how
long each fault takes to settle, is a program.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.chaos import cluster, run_matrix, summary
from bench.chaos_faults import FAULTS
from bench.chaos_trial import WEBSOCKET, Outcome
from devtools.cluster import Cluster

pytestmark = pytest.mark.integration

SUBSET = ("none", "429-storm", "duplicates")
REQUESTS = 5
WEBSOCKET_SUBSET = ("none", "pubnub-paused", "gateway-session-expired", "malformed")
WEBSOCKET_SKIPPED = {"malformed"}
#: Seconds the gateway stays held in pubnub-paused: a short outage is enough.
WEBSOCKET_PAUSE = 3.0


@pytest.fixture(scope="module")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    stack = cluster(tmp_path_factory.mktemp("chaos"), workers=2)
    with stack:
        yield stack


@pytest.fixture(scope="module")
def websocket_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    stack = cluster(tmp_path_factory.mktemp("chaos-ws"), workers=2, transport=WEBSOCKET)
    with stack:
        yield stack


@pytest.mark.timeout(300)
def test_the_matrix_subset_answers_every_request_exactly_once(
    chaos_stack: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    outcomes = run_matrix(chaos_stack, [FAULTS[name] for name in SUBSET], requests=REQUESTS)

    with capsys.disabled():
        print("\n" + summary(outcomes))
    assert [_counts(o) for o in outcomes] == [
        (name, REQUESTS, REQUESTS, 0, 0, None) for name in SUBSET
    ], chaos_stack.tails()


@pytest.mark.timeout(300)
def test_over_websocket_the_gateway_faults_answer_every_request_exactly_once(
    websocket_stack: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    faults = [FAULTS[name] for name in WEBSOCKET_SUBSET]
    outcomes = run_matrix(websocket_stack, faults, requests=REQUESTS, pubnub_pause=WEBSOCKET_PAUSE)

    with capsys.disabled():
        print("\n" + summary(outcomes))
    assert [_counts(o) for o in outcomes] == [
        (name, 0, 0, 0, 0, None)
        if name in WEBSOCKET_SKIPPED
        else (name, REQUESTS, REQUESTS, 0, 0, None)
        for name in WEBSOCKET_SUBSET
    ], websocket_stack.tails()
    assert [o.fault for o in outcomes if o.skipped] == sorted(WEBSOCKET_SKIPPED)


def _counts(outcome: Outcome) -> tuple[str, int, int, int, int, str | None]:
    return (outcome.fault, outcome.sent, outcome.once, outcome.lost, outcome.doubled, outcome.error)
