"""The per-event cost benchmark's command line and its pure figures (no process is started)."""

from __future__ import annotations

import pytest

from bench.replies import (
    CPU_ROLES,
    FIGURES,
    Pairing,
    io_key,
    metric_key,
    notes,
    pair_replies,
    parse_args,
    percentile,
    phase_figures,
    ratio,
    rows,
    scaling,
    spread,
    summary,
)


def test_the_defaults_are_the_issues_scale() -> None:
    args = parse_args([])
    assert (args.repeat, args.seconds, args.burst) == (3, 20.0, 150)
    assert args.figures == list(FIGURES)
    assert args.workloads == ["single", "many"]
    assert (args.chats, args.pools, args.concurrency) == (20, ["prefork", "threads", "gevent"], 2)
    assert args.log_dir is None


def test_a_run_can_be_shrunk() -> None:
    args = parse_args(["--repeat", "1", "--seconds", "5", "--burst", "50", "--workload", "single"])
    assert (args.repeat, args.seconds, args.burst, args.workloads) == (1, 5.0, 50, ["single"])


def test_figures_are_a_subset_kept_in_the_tables_order() -> None:
    assert parse_args(["--figures", "burst,rate10"]).figures == ["rate10", "burst"]
    assert parse_args(["--figures", "io", "--figures", "rate100"]).figures == ["rate100", "io"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--figures", "latency"],
        ["--figures", ","],
        ["--repeat", "0"],
        ["--seconds", "-1"],
        ["--burst", "many"],
        ["--workload", "all"],
        ["--pool", "solo"],
    ],
)
def test_bad_values_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert argv[0] in capsys.readouterr().err


def test_pools_repeat_without_doubles() -> None:
    args = parse_args(["--pool", "threads", "--pool", "prefork", "--pool", "threads"])
    assert args.pools == ["threads", "prefork"]


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 51
    assert percentile(values, 0.99) == 100
    assert percentile([3.0], 0.99) == 3.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


def test_each_reply_answers_the_oldest_waiting_request_of_its_chat() -> None:
    got = pair_replies({"a": [1.0, 2.0], "b": [1.5]}, {"a": [2.5, 1.25], "b": [1.75]})
    assert sorted(got.latencies) == pytest.approx([0.25, 0.25, 0.5])
    assert (got.lost, got.doubled) == (0, 0)


def test_a_request_without_a_reply_is_lost_and_a_reply_without_one_is_doubled() -> None:
    got = pair_replies({"a": [1.0, 2.0, 3.0], "b": [1.0]}, {"a": [1.5, 1.6], "c": [4.0]})
    assert got.latencies == pytest.approx([0.5])
    assert (got.lost, got.doubled) == (3, 2)


def test_a_reply_before_any_request_is_not_an_answer() -> None:
    got = pair_replies({"a": [2.0]}, {"a": [1.0, 2.5]})
    assert got.latencies == pytest.approx([0.5])
    assert (got.lost, got.doubled) == (0, 1)


def test_phase_figures_in_milliseconds_and_per_second() -> None:
    sent = [0.0, 1.0, 2.0, 3.0, 4.0]
    pairing = Pairing(
        latencies=[0.01, 0.02, 0.03, 0.04], reply_times=[0.01, 1.02, 2.03, 4.04], lost=1
    )
    figures = phase_figures(sent, pairing)
    assert figures["posted/s"] == pytest.approx(1.0)
    assert figures["p50 ms"] == pytest.approx(30)
    assert figures["p99 ms"] == pytest.approx(40)
    assert figures["replies/s"] == pytest.approx(4 / 4.04)
    assert (figures["lost"], figures["doubled"]) == (1, 0)


def test_nothing_answered_gives_no_latency() -> None:
    figures = phase_figures([1.0], Pairing(lost=1))
    assert figures == {"lost": 1.0, "doubled": 0.0}


def test_scaling_is_one_when_four_processes_do_four_times_the_work() -> None:
    assert scaling(40.0, 10.0) == pytest.approx(1.0)
    assert scaling(20.0, 10.0) == pytest.approx(0.5)


def test_spread_and_ratio_read_as_the_table_prints_them() -> None:
    assert spread([3.0, 1.0, 2.0]) == "1 / 2 / 3"
    assert spread([0.5, 0.25], digits=2) == "0.25 / 0.38 / 0.50"
    assert spread([]) == "-"
    assert ratio(30.0, 10.0) == "3.00"
    assert ratio(None, 10.0) == ratio(1.0, None) == ratio(1.0, 0.0) == "-"


def test_rows_follow_the_figures_and_workloads_asked_for() -> None:
    keys = [r.key for r in rows(["burst", "io"], ["many"], ["prefork", "threads"])]
    assert keys == [
        "many burst replies/s",
        "many burst lost",
        "many burst doubled",
        *(f"many burst cpu ms/reply {role}" for role in CPU_ROLES),
        io_key("prefork", "1 process replies/s"),
        io_key("prefork", "4 processes replies/s"),
        io_key("prefork", "scaling 4/(4x1)"),
        io_key("threads", "1 process replies/s"),
        io_key("threads", "4 processes replies/s"),
        io_key("threads", "scaling 4/(4x1)"),
    ]
    assert metric_key("single", "rate10", "p99 ms") == "single 10/s p99 ms"


def test_the_events_figure_is_this_projects_only() -> None:
    table = rows(["burst", "events"], ["many"], [])
    events = [r for r in table if r.key.startswith("many burst, task events")]
    assert [r.key for r in events] == [
        "many burst, task events on replies/s",
        "many burst, task events off replies/s",
        "many burst, task events cost %",
    ]
    assert not any(r.naive for r in events)


def _line(lines: list[str], key: str) -> str:
    return next(line for line in lines if line.startswith(key + " "))


def test_the_targets_are_judged_on_the_medians() -> None:
    p99_10 = metric_key("single", "rate10", "p99 ms")
    p99_100 = metric_key("single", "rate100", "p99 ms")
    lost_100 = metric_key("single", "rate100", "lost")
    burst = metric_key("single", "burst", "replies/s")
    project = [
        {p99_10: 30.0, p99_100: 150.0, lost_100: 0.0, burst: 90.0},
        {p99_10: 50.0, p99_100: 190.0, lost_100: 0.0, burst: 110.0},
        {p99_10: 900.0, p99_100: 900.0, lost_100: 0.0, burst: 100.0},
    ]
    naive = [{p99_10: 20.0, burst: 120.0}] * 3
    table = rows(["rate10", "rate100", "burst"], ["single"], ["prefork"])
    lines = summary({"project": project, "naive": naive}, table, "header")
    assert lines[0] == "header"
    assert _line(lines, p99_10).endswith("2.50  <= 2x naive: not met")
    assert "30 / 50 / 900" in _line(lines, p99_10)
    assert _line(lines, p99_100).endswith("< 200 ms, none lost: met")
    assert _line(lines, burst).endswith(">= naive: not met")


def test_a_lost_reply_in_any_run_fails_the_sustained_target() -> None:
    p99 = metric_key("many", "rate100", "p99 ms")
    lost = metric_key("many", "rate100", "lost")
    project = [{p99: 100.0, lost: 0.0}, {p99: 100.0, lost: 2.0}, {p99: 100.0, lost: 0.0}]
    lines = summary({"project": project, "naive": []}, rows(["rate100"], ["many"], []), "h")
    assert _line(lines, p99).endswith("< 200 ms, none lost: not met")


def test_io_scaling_target_and_missing_figures() -> None:
    key = io_key("prefork", "scaling 4/(4x1)")
    table = rows(["io"], ["many"], ["prefork", "gevent"])
    lines = summary({"project": [{key: 0.85}, {key: 0.7}, {key: 0.9}], "naive": []}, table, "h")
    assert _line(lines, key).endswith(">= 0.8: met")
    assert _line(lines, io_key("gevent", "scaling 4/(4x1)")).endswith(">= 0.8: n/a")


def test_notes_say_when_gevent_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bench.replies.gevent_installed", lambda: False)
    assert any("gevent is not installed" in n for n in notes(parse_args(["--pool", "gevent"])))
    assert not any("gevent" in n for n in notes(parse_args(["--figures", "rate10"])))
