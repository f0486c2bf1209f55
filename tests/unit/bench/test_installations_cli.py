"""The many-bots benchmark's command line and its pure figures (no process is started)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.installations import (
    PER_BOT_PER_MINUTE,
    Answers,
    ChatPost,
    capacity,
    configs,
    expected_renewals,
    install_causes,
    lifetimes_spanned,
    metric_value,
    pair,
    parse_args,
    percentile,
    renewals_per_window,
    round_robin,
    window_quantiles,
    without_live,
)

BOT = "400000010"
PERSON = "400000011"


def post(post_id: int, created: float, creator: str = PERSON) -> ChatPost:
    return ChatPost(str(post_id), creator, "help", created, BOT)


def test_the_defaults_are_the_issues_scale() -> None:
    args = parse_args([])
    assert (args.installations, args.listeners, args.workers) == (1000, 2, 2)
    assert (args.transport, args.rate, args.duration, args.lifetime) == ("pubnub", 20, 120, 60)
    assert (args.comparator, args.windows, args.kill, args.log_dir) == (20, 4, True, None)
    assert not args.lift_light


def test_options_are_read() -> None:
    argv = ["--installations", "40", "--transport", "websocket", "--rate", "5", "--no-kill"]
    args = parse_args([*argv, "--duration", "40", "--lifetime", "30", "--comparator", "10"])
    assert (args.installations, args.transport, args.rate, args.kill) == (40, "websocket", 5, False)
    assert (args.duration, args.lifetime, args.comparator) == (40, 30, 10)


@pytest.mark.parametrize(
    "argv",
    [
        ["--transport", "carrier-pigeon"],
        ["--installations", "0"],
        ["--rate", "0"],
        ["--lifetime", "901"],
        ["--lifetime", "3"],
        ["--comparator", "-1"],
    ],
)
def test_bad_options_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)


def test_the_comparator_is_the_same_load_on_fewer_bots_without_a_kill() -> None:
    main, comparator = configs(parse_args(["--comparator", "20"]))
    assert (main.installations, main.kill) == (1000, True)
    assert (comparator.installations, comparator.kill) == (20, False)
    assert (comparator.rate, comparator.duration, comparator.windows) == (20, 120, 4)
    assert configs(parse_args(["--comparator", "0"])) == [main]


def test_the_stack_settings_follow_the_lifetime_and_transport() -> None:
    [config] = configs(parse_args(["--lifetime", "30", "--comparator", "0"]))
    env = config.env()
    assert env["SUBSCRIPTION_EXPIRES_IN"] == "30"
    assert env["SUBSCRIPTION_RENEW_MARGIN"] == "7.5"
    assert (env["LISTENER_SHARDS"], env["LISTENER_LEASE_TTL"]) == ("8", "5")
    assert env["NOTIFICATION_TRANSPORT"] == "pubnub"


def test_light_is_lifted_only_when_a_bot_would_get_more_than_the_platform_allows() -> None:
    main, comparator = configs(parse_args([]))  # 1000 bots: 1.2 a minute; 20 bots: 60
    assert not main.lift_light
    assert (main.sandbox_args(), "RATE_LIMITS" in main.env()) == ((), False)
    assert comparator.lift_light
    assert comparator.sandbox_args()[0] == "--rate-limit"
    assert comparator.env()["RATE_LIMITS"].startswith("Light=")
    at_limit = configs(parse_args(["--installations", "30", "--comparator", "0"]))[0]
    assert PER_BOT_PER_MINUTE == 20 * 60 / 30  # exactly at the limit: not over it
    assert not at_limit.lift_light


def test_lift_light_lifts_both_runs() -> None:
    main, comparator = configs(parse_args(["--lift-light", "--comparator", "500"]))
    assert (main.lift_light, main.over_limit) == (True, False)
    assert (comparator.lift_light, comparator.over_limit) == (True, False)
    assert main.env()["RATE_LIMITS"].startswith("Light=")


def test_the_listeners_causes_of_refused_installs_are_counted() -> None:
    lines: list[dict[str, Any]] = [
        {"event": "install_failed", "status": 503, "cause": "rate_limited"},
        {"event": "install_failed", "status": 503, "cause": "rate_limited"},
        {
            "event": "install_failed",
            "status": 503,
            "cause": "rate_limited",
            "error_code": "CMN-301",
        },
        {"event": "install_failed", "status": 503, "cause": "busy"},
        {"event": "install_refused", "status": 401, "cause": "code_refused"},
        {"event": "install_accepted", "kind": "public"},
    ]
    assert install_causes(lines) == {
        "503 rate_limited by the listener's own limiter (no 429 from the platform)": 2,
        "503 rate_limited": 1,
        "503 busy": 1,
        "401 code_refused": 1,
    }


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 51
    assert percentile(values, 0.99) == 100
    assert percentile([3.0], 0.99) == 3.0


def test_each_reply_answers_its_request() -> None:
    asked = [post(1, 10.0), post(3, 20.0)]
    replies = [post(2, 10.5, BOT), post(4, 21.0, BOT)]
    answers = pair(asked, replies, deadline=100.0)
    assert answers.latencies == [(10.0, 0.5), (20.0, 1.0)]
    assert (answers.lost, answers.doubled, answers.sent) == ([], 0, 2)


def test_a_request_without_reply_is_lost_and_a_reply_without_request_is_doubled() -> None:
    asked = [post(1, 10.0), post(4, 20.0)]
    replies = [post(2, 10.2, BOT), post(3, 10.4, BOT)]
    answers = pair(asked, replies, deadline=100.0)
    assert [t for t, _ in answers.latencies] == [10.0]
    assert [lat for _, lat in answers.latencies] == pytest.approx([0.2])
    assert answers.doubled == 1
    assert [p.id for p in answers.lost] == ["4"]


def test_one_lost_request_does_not_shift_the_later_pairs() -> None:
    # The request at 43.4 s was never answered; each later one was, within a second.
    asked = [post(1, 43.4), post(2, 51.4), post(4, 59.4)]
    replies = [post(3, 51.7, BOT), post(5, 59.7, BOT)]
    answers = pair(asked, replies, deadline=100.0)
    assert [t for t, _ in answers.latencies] == [51.4, 59.4]
    assert [lat for _, lat in answers.latencies] == pytest.approx([0.3, 0.3])
    assert ([p.id for p in answers.lost], answers.doubled) == (["1"], 0)


def test_a_doubled_reply_does_not_shift_the_later_pairs() -> None:
    asked = [post(1, 10.0), post(4, 20.0)]
    replies = [post(2, 10.5, BOT), post(3, 10.7, BOT), post(5, 20.5, BOT)]
    answers = pair(asked, replies, deadline=100.0)
    assert [lat for _, lat in answers.latencies] == pytest.approx([0.5, 0.5])
    assert (answers.lost, answers.doubled) == ([], 1)


def test_a_reply_is_never_paired_with_a_later_request() -> None:
    answers = pair([post(2, 10.0)], [post(1, 9.0, BOT)], deadline=100.0)
    assert (answers.latencies, [p.id for p in answers.lost], answers.doubled) == ([], ["2"], 1)


def test_a_reply_after_the_deadline_counts_as_lost() -> None:
    answers = pair([post(1, 10.0)], [post(2, 50.0, BOT)], deadline=40.0)
    assert (answers.latencies, [p.id for p in answers.lost]) == ([], ["1"])


def test_two_requests_in_a_row_are_answered_in_order() -> None:
    asked = [post(1, 10.0), post(2, 10.1)]
    replies = [post(3, 11.0, BOT), post(4, 11.5, BOT)]
    answers = pair(asked, replies, deadline=100.0)
    assert [t for t, _ in answers.latencies] == [10.0, 10.1]
    assert [lat for _, lat in answers.latencies] == pytest.approx([1.0, 1.4])


def test_answers_fold_and_select_by_request_time() -> None:
    total = Answers()
    total.add(pair([post(1, 10.0)], [post(2, 10.5, BOT)], 100.0))
    total.add(pair([post(3, 30.0)], [], 100.0))
    total.add(pair([], [post(4, 40.0, BOT)], 100.0))
    assert (total.sent, len(total.lost), total.doubled) == (2, 1, 1)
    meanwhile = total.within(20.0, 35.0)
    assert (meanwhile.latencies, [p.id for p in meanwhile.lost]) == ([], ["3"])


def test_windows_split_the_run_by_request_time() -> None:
    latencies = [(0.5, 0.1), (1.0, 0.3), (5.5, 1.0), (9.9, 2.0), (10.5, 4.0)]
    quantiles = window_quantiles(latencies, start=0.0, duration=10.0, windows=2)
    assert quantiles == [(0.3, 0.3), (2.0, 4.0)]  # a late request counts in the last window
    assert window_quantiles([(0.5, 0.1)], 0.0, 10.0, 4) == [(0.1, 0.1)]  # empty ones left out


def test_round_robin_spreads_the_load_evenly() -> None:
    targets = round_robin(["a", "b", "c"], 7)
    assert len(targets) == 7
    assert sorted(targets.count(b) for b in "abc") == [2, 2, 3]
    assert len(set(targets[:3])) == 3
    assert round_robin([], 5) == []


def test_expected_renewals_follow_the_renew_interval() -> None:
    assert expected_renewals(1000, 120, 60, 15) == pytest.approx(1000 * 120 / 45)
    # The keeper renews at most a third of the lifetime early.
    assert expected_renewals(10, 60, 30, 20) == pytest.approx(10 * 60 / 20)


def test_one_window_holds_between_the_floor_and_the_ceiling_of_renewals_per_bot() -> None:
    assert renewals_per_window(41, 40, 22.5) == (41, 82)
    assert renewals_per_window(10, 90, 45) == (20, 20)


def test_lifetimes_spanned_says_what_it_is_worth_at_900_s() -> None:
    assert "2.0 subscription lifetimes" in lifetimes_spanned(120, 60)
    assert "30 min at 900 s" in lifetimes_spanned(120, 60)
    assert "fewer than 2" in lifetimes_spanned(40, 30)
    assert "fewer than 2" not in lifetimes_spanned(60, 30)


def test_capacity_extrapolates_the_slope_from_the_baseline() -> None:
    mib = 1024 * 1024
    assert capacity(512 * mib, 112 * mib, 100 * 1024) == pytest.approx(4096)
    assert capacity(512 * mib, 600 * mib, 1024) == 0
    assert capacity(512 * mib, 100 * mib, 0) is None


def test_metric_value_sums_a_metrics_samples() -> None:
    text = "\n".join(
        [
            "# HELP glipbot_listener_renewals_total Successful subscription renewals",
            "# TYPE glipbot_listener_renewals_total counter",
            "glipbot_listener_renewals_total 42.0",
            "glipbot_listener_renewals_created 1.7e9",
            'glipbot_listener_installs_total{kind="public",result="installed"} 3.0',
            'glipbot_listener_installs_total{kind="private",result="installed"} 2.0',
        ]
    )
    assert metric_value(text, "glipbot_listener_renewals_total") == 42
    assert metric_value(text, "glipbot_listener_installs_total") == 5
    assert metric_value(text, "glipbot_listener_renewal_failures_total") == 0


def test_bots_without_a_live_subscription_are_counted() -> None:
    subscriptions: list[dict[str, Any]] = [
        {"ownerId": "1", "expiresIn": 12.5},
        {"ownerId": "2", "expiresIn": 0},
        {"ownerId": "3", "expiresIn": None},  # WebSocket: lives as long as its session
        {"ownerId": "400000001", "expiresIn": 30},  # the configured bot's
    ]
    assert without_live(["1", "2", "3", "4"], subscriptions) == 2
