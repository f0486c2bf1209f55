"""A short subset of the fault matrix (``make chaos``) on its own stack, through its code path.

The whole stack as the matrix starts it (redis-server with an append-only
file, the sandbox, two listeners, two workers and beat, on free ports) runs
three cheap faults on requests of their own: none, a storm of 429s on the
bot's answers, and every notification delivered twice. Each must leave
every request answered exactly once. No timing is asserted: the full matrix,
which also measures how long each fault takes to settle, is a program.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.chaos import cluster, run_matrix, summary
from bench.chaos_faults import FAULTS
from bench.chaos_trial import Outcome
from devtools.cluster import Cluster

pytestmark = pytest.mark.integration

SUBSET = ("none", "429-storm", "duplicates")
REQUESTS = 5


@pytest.fixture(scope="module")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    stack = cluster(tmp_path_factory.mktemp("chaos"), workers=2)
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


def _counts(outcome: Outcome) -> tuple[str, int, int, int, int, str | None]:
    return (outcome.fault, outcome.sent, outcome.once, outcome.lost, outcome.doubled, outcome.error)
