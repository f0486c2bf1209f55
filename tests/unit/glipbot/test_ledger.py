"""glipbot.contracts.ledger: work in flight is kept with its message, and sent again when lost."""

from __future__ import annotations

import pytest
import redis

from glipbot.contracts.ledger import PROGRESS_BOUND, Entry, Ledger, Outcome, reply_entry
from glipbot.state.keys import Keys
from tests.support.clock import FakeClock

KEYS = Keys("test:")
ENTRY = reply_entry("evt-1:0")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger(redis_client: redis.Redis, clock: FakeClock) -> Ledger:
    return Ledger(redis_client, KEYS, clock=clock)


def test_registering_pushes_the_message_and_keeps_it_with_a_deadline(
    ledger: Ledger, redis_client: redis.Redis
) -> None:
    assert ledger.register(ENTRY, "replies", "the message") is True

    assert redis_client.lrange("replies", 0, -1) == ["the message"]
    assert ledger.entry(ENTRY) == Entry(ENTRY, "replies", "the message")
    assert ledger.deadline(ENTRY) == 1_000 + PROGRESS_BOUND
    assert ledger.entry(ENTRY).kind == "reply"  # type: ignore[union-attr]


def test_an_ordered_reply_is_known_to_its_chat_as_in_flight(
    ledger: Ledger, redis_client: redis.Redis
) -> None:
    ledger.register(ENTRY, "replies", "m", group_id="g", turn=(4, 1))

    assert redis_client.hgetall(KEYS.chat_inflight("g")) == {"4:1": ENTRY}


def test_touching_moves_the_deadline_and_done_forgets(ledger: Ledger, clock: FakeClock) -> None:
    ledger.register(ENTRY, "replies", "m")
    clock.now += 30

    ledger.touch(ENTRY, extra=120)
    assert ledger.deadline(ENTRY) == 1_030 + 120 + PROGRESS_BOUND
    ledger.done(ENTRY)

    assert ledger.entry(ENTRY) is None
    assert ledger.deadline(ENTRY) is None
    assert ledger.size() == 0


def test_touching_work_the_ledger_does_not_know_records_nothing(ledger: Ledger) -> None:
    ledger.touch(reply_entry("sent-by-hand:0"))

    assert ledger.deadline(reply_entry("sent-by-hand:0")) is None


def test_only_work_past_its_deadline_is_overdue(ledger: Ledger, clock: FakeClock) -> None:
    ledger.register(ENTRY, "replies", "m")
    assert ledger.overdue() == []

    clock.now += PROGRESS_BOUND

    assert ledger.overdue() == [ENTRY]


def test_overdue_work_still_on_its_queue_gets_another_bound_not_a_resend(
    ledger: Ledger, redis_client: redis.Redis, clock: FakeClock
) -> None:
    """A backlog: the message waits behind others, nothing was lost."""
    redis_client.lpush("replies", "older")
    ledger.register(ENTRY, "replies", "m")
    redis_client.lpush("replies", "newer")
    clock.now += PROGRESS_BOUND

    reaped = ledger.resend(ENTRY)

    assert (reaped.outcome, reaped.reaps) == (Outcome.QUEUED, 0)
    assert redis_client.lrange("replies", 0, -1) == ["newer", "m", "older"]
    assert ledger.deadline(ENTRY) == clock.now + PROGRESS_BOUND


def test_overdue_work_gone_from_its_queue_is_sent_again(
    ledger: Ledger, redis_client: redis.Redis, clock: FakeClock
) -> None:
    """Taken by BRPOP and lost before kombu recorded it as unacked."""
    ledger.register(ENTRY, "replies", "m")
    redis_client.rpop("replies")
    clock.now += PROGRESS_BOUND

    reaped = ledger.resend(ENTRY)

    assert (reaped.outcome, reaped.reaps) == (Outcome.RESENT, 1)
    assert redis_client.lrange("replies", 0, -1) == ["m"]
    assert ledger.deadline(ENTRY) == clock.now + PROGRESS_BOUND


def test_work_that_made_progress_meanwhile_is_not_sent_again(
    ledger: Ledger, redis_client: redis.Redis, clock: FakeClock
) -> None:
    ledger.register(ENTRY, "replies", "m")
    redis_client.rpop("replies")
    clock.now += PROGRESS_BOUND
    ledger.touch(ENTRY)  # its task started after the reaper listed it

    assert ledger.resend(ENTRY).outcome is Outcome.NOT_DUE
    assert redis_client.llen("replies") == 0


def test_work_lost_again_and_again_is_handed_back_for_a_dead_letter(
    ledger: Ledger, redis_client: redis.Redis, clock: FakeClock
) -> None:
    ledger.register(ENTRY, "replies", "m")
    outcomes = []
    for _ in range(3):
        redis_client.delete("replies")
        clock.now += PROGRESS_BOUND
        outcomes.append(ledger.resend(ENTRY, max_reaps=2))

    assert [r.outcome for r in outcomes] == [Outcome.RESENT, Outcome.RESENT, Outcome.EXHAUSTED]
    assert outcomes[-1].entry == Entry(ENTRY, "replies", "m")
    assert redis_client.llen("replies") == 0


def test_a_queue_too_long_to_look_through_is_waited_for(
    ledger: Ledger, redis_client: redis.Redis, clock: FakeClock
) -> None:
    ledger.register(ENTRY, "replies", "m")
    redis_client.rpop("replies")
    redis_client.lpush("replies", *[f"other {n}" for n in range(5)])
    clock.now += PROGRESS_BOUND

    reaped = ledger.resend(ENTRY, scan=3)

    assert reaped.outcome is Outcome.BACKLOG
    assert redis_client.llen("replies") == 5


def test_a_deadline_without_its_entry_is_dropped(
    ledger: Ledger, redis_client: redis.Redis, clock: FakeClock
) -> None:
    redis_client.zadd(KEYS.ledger_deadlines, {ENTRY: 0})

    assert ledger.resend(ENTRY).outcome is Outcome.MISSING
    assert ledger.overdue() == []
