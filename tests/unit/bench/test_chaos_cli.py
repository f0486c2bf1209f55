"""The fault matrix's command line, fault list and table: which faults run over which transport."""

from __future__ import annotations

import pytest

from bench.chaos import (
    RATE_LIMITS,
    WEBSOCKET_RATE_LIMITS,
    fault_list,
    main,
    parse_args,
    plan,
    program_env,
    row,
    sandbox_args,
    summary,
)
from bench.chaos_faults import FAULTS
from bench.chaos_trial import PUBNUB, WEBSOCKET, Outcome

PUBNUB_ONLY = {"duplicates", "malformed"}
WEBSOCKET_ONLY = {"gateway-session-expired"}


def test_the_transport_defaults_to_pubnub_and_takes_websocket() -> None:
    assert parse_args([]).transport == PUBNUB
    assert parse_args(["--transport", "websocket"]).transport == WEBSOCKET


def test_an_unknown_transport_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--transport", "carrier-pigeon"])
    assert "--transport" in capsys.readouterr().err


def test_every_fault_is_listed_by_default_whatever_the_transport() -> None:
    args = parse_args(["--transport", "websocket"])
    assert [f.name for f in args.faults] == list(FAULTS)


def test_each_fault_says_which_transports_it_runs_over() -> None:
    assert {n for n, f in FAULTS.items() if f.transports == (PUBNUB,)} == PUBNUB_ONLY
    assert {n for n, f in FAULTS.items() if f.transports == (WEBSOCKET,)} == WEBSOCKET_ONLY
    assert all(f.transports for f in FAULTS.values())
    assert all(why for f in FAULTS.values() for why in f.skip.values())


def test_the_list_shows_the_transports_and_why_a_fault_is_skipped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == fault_list().splitlines()
    by_name = {line.split()[0]: line for line in lines if not line.startswith(" ")}
    assert set(by_name) == set(FAULTS)
    assert "pubnub websocket" in by_name["pubnub-paused"]
    assert by_name["malformed"].split()[1:3] == ["pubnub", "1,000"]
    assert by_name["gateway-session-expired"].split()[1] == "websocket"
    notes = [line.strip() for line in lines if line.startswith(" ")]
    assert any(n.startswith("websocket: skipped (no WebSocket counterpart") for n in notes)
    assert any(n.startswith("pubnub: skipped (WebSocket only") for n in notes)


def test_a_skipped_fault_is_planned_once_even_when_it_repeats() -> None:
    stopped = FAULTS["leader-stopped"]
    assert [label for label, _ in plan([stopped], 3, WEBSOCKET)] == [
        "leader-stopped 1/3",
        "leader-stopped 2/3",
        "leader-stopped 3/3",
    ]
    faults = [FAULTS["malformed"], FAULTS["gateway-session-expired"]]
    assert [label for label, _ in plan(faults, 3, WEBSOCKET)] == [
        "malformed",
        "gateway-session-expired",
    ]


def test_a_skipped_line_shows_dashes_and_why() -> None:
    line = row(Outcome("malformed", skipped="no counterpart"))
    assert line.split()[:7] == ["malformed", "-", "-", "-", "-", "-", "-"]
    assert line.endswith("skipped: no counterpart")


def test_the_summary_counts_skipped_faults_apart_and_they_do_not_fail() -> None:
    ran = Outcome("none", sent=10, once=10)
    skipped = Outcome("malformed", skipped="no counterpart")
    assert Outcome("malformed", skipped="x").ok
    assert summary([ran, skipped]) == (
        "1 faults, 10 requests: 0 lost, 0 doubled, 0 out of order (1 skipped: malformed). "
        "OK: every fault 0 lost, 0 doubled."
    )
    lost = Outcome("pubnub-paused", sent=10, once=9, lost=1)
    assert summary([lost, skipped]).endswith("FAILED: pubnub-paused.")


def test_the_transport_is_the_programs_notification_transport() -> None:
    assert program_env(WEBSOCKET)["NOTIFICATION_TRANSPORT"] == "websocket"
    assert program_env(PUBNUB)["NOTIFICATION_TRANSPORT"] == "pubnub"


def test_over_websocket_the_sandbox_and_the_programs_allow_more_wstoken_calls() -> None:
    auth = WEBSOCKET_RATE_LIMITS["Auth"]
    assert auth > RATE_LIMITS["Auth"]
    assert f"Auth={auth}" in sandbox_args(WEBSOCKET)
    assert f"Auth={auth}/60" in program_env(WEBSOCKET)["RATE_LIMITS"].split(",")
    assert f"Auth={RATE_LIMITS['Auth']}" in sandbox_args(PUBNUB)
