"""``python -m tasks.ops installations list|show|remove``: the CLI, its tasks and what they do.

The CLI's ``send_task`` runs the named task here (``Task.apply``) instead of
on a worker, over a runtime whose Redis is the test's real redis-server.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from structlog.testing import capture_logs

import tasks.ops
from glipbot.state.installations import Installation, InstallationStore
from glipbot.state.keys import Keys
from tasks.ops import __main__ as cli
from worker.celery import app

KEYS = Keys("glipbot:")
SECRET_TOKEN = "private-bot-token-0123456789"
PRIVATE = Installation(
    "707406005", "707406001", "private", 1_700_000_000.0, token=SECRET_TOKEN,
    creator_extension_id="230919004",
)  # fmt: skip
CONFIGURED = Installation("400000001", "400000000", "configured", 1_690_000_000.0)


@pytest.fixture
def store(redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> InstallationStore:
    """Two installations; the ops tasks and the CLI run here, against them."""
    runtime = SimpleNamespace(platform=SimpleNamespace(redis=redis_client, keys=KEYS))
    monkeypatch.setattr(tasks.ops, "runtime", lambda: runtime)
    monkeypatch.setattr(cli, "configure_logging", lambda settings: None)
    monkeypatch.setattr(cli, "warn_unknown", lambda names: None)

    def send_task(name: str, args: list[Any], kwargs: dict[str, Any], queue: str) -> Any:
        assert queue == "ops"
        return app.tasks[name].apply(args=args, kwargs=kwargs)

    monkeypatch.setattr(app, "send_task", send_task)
    installations = InstallationStore(redis_client, KEYS, clock=lambda: 1_700_000_500.0)
    installations.put(CONFIGURED)
    installations.put(PRIVATE)
    return installations


def _ops(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize(
    ("argv", "task", "kwargs"),
    [
        (["installations", "list"], "tasks.ops.installations", {"bot_id": None}),
        (["installations", "show", "7"], "tasks.ops.installations", {"bot_id": "7"}),
        (
            ["installations", "remove", "7", "--reason", "asked to"],
            "tasks.ops.remove_installation",
            {"bot_id": "7", "reason": "asked to"},
        ),
    ],
)
def test_each_action_names_its_task(argv: list[str], task: str, kwargs: dict[str, Any]) -> None:
    assert cli.task_call(cli.build_parser().parse_args(argv)) == (task, [], kwargs)


def test_list_prints_a_table_without_tokens(
    store: InstallationStore, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _ops(capsys, "installations", "list")

    assert status == 0
    assert out.splitlines() == [
        "BOT ID     ACCOUNT    KIND        STATE   INSTALLED AT",
        "400000001  400000000  configured  active  2023-07-22T04:26:40Z",
        "707406005  707406001  private     active  2023-11-14T22:13:20Z",
    ]


def test_show_prints_one_installation_as_json_without_its_token(
    store: InstallationStore, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _ops(capsys, "installations", "show", "707406005")

    assert status == 0
    assert json.loads(out) == {"installation": PRIVATE.public()}
    assert SECRET_TOKEN not in out
    assert json.loads(out)["installation"]["has_token"] is True


def test_remove_marks_it_removed_forgets_the_token_and_says_so(
    store: InstallationStore, capsys: pytest.CaptureFixture[str]
) -> None:
    with capture_logs() as logs:
        status, out, _ = _ops(capsys, "installations", "remove", "707406005")

    assert status == 0
    assert out.startswith("removed bot 707406005 (private, account 707406001): its token is")
    removed = store.get("707406005")
    assert removed is not None
    assert (removed.state, removed.token, removed.removed_reason) == (
        "removed",
        None,
        "removed by ops",
    )
    assert [(line["event"], line["bot_id"]) for line in logs] == [
        ("installation_removed", "707406005")
    ]

    status, out, _ = _ops(capsys, "installations", "remove", "707406005")

    assert (status, out.strip()) == (
        0,
        "bot 707406005 (private, account 707406001) was already removed at "
        f"{cli._utc(removed.removed_at)}; nothing done.",
    )
    assert store.get("707406005") == removed  # not stamped again


def test_removing_the_configured_bot_says_it_comes_back_at_the_next_start(
    store: InstallationStore, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = _ops(capsys, "installations", "remove", "400000001")

    assert "the next listener start makes it active again" in out


def test_an_unknown_bot_fails_with_its_id(
    store: InstallationStore, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = _ops(capsys, "installations", "show", "123")

    assert status == 1
    assert "LookupError: no installation of bot 123" in err


def test_the_tasks_answer_plain_json_for_flower_and_celery_call(store: InstallationStore) -> None:
    listed = tasks.ops.installations.apply().get()
    removed = tasks.ops.remove_installation.apply(args=["707406005"]).get()

    assert json.loads(json.dumps(listed)) == {
        "installations": [CONFIGURED.public(), PRIVATE.public()]
    }
    assert removed["removed"] is True
    assert removed["installation"]["has_token"] is False
