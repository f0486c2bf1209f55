"""SmartFriend's daily job: its task keeps its ops name and its beat entry comes from the bot."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from celery import Celery
from celery.schedules import crontab

from glipbot.testing import BOT_ID, JOHN_ID, FakeDirectory
from tasks.smartfriend import SmartFriendSettings, jobs
from worker.celery import app
from worker.replies import Outgoing

CHATS = [
    {"id": "1234", "type": "PrivateChat", "members": [JOHN_ID, BOT_ID]},
    {"id": "9999", "type": "Team", "members": [JOHN_ID, BOT_ID]},
]


class FakeRest:
    """The one REST call the job makes: the bot's chats of some types."""

    def __init__(self, chats: Sequence[Mapping[str, Any]]) -> None:
        self.chats = chats
        self.asked: list[list[str]] = []

    def iter_groups(self, types: list[str]) -> Iterator[Mapping[str, Any]]:
        self.asked.append(types)
        return iter([c for c in self.chats if c["type"] in types])


class JohnOnMay6:
    def born_on(self, month: int, day: int) -> Sequence[str]:
        return [JOHN_ID] if (month, day) == (5, 6) else []


def fake_runtime() -> Any:
    return SimpleNamespace(
        platform=SimpleNamespace(rest=FakeRest(CHATS)), directory=FakeDirectory.seed()
    )


def test_todays_birthdays_are_enqueued_as_replies_keyed_by_day_and_chat() -> None:
    rt, sent = fake_runtime(), list[Outgoing]()

    answer = jobs.send_birthday_greetings(rt, sent.append, date(2017, 5, 6), JohnOnMay6())

    assert answer == {"date": "2017-05-06", "greetings": 1}
    assert [(o.reply.key, o.reply.group_id, o.reply.text) for o in sent] == [
        (
            "birthday:2017-05-06:1234:0",
            "1234",
            "Happy birthday, John! 🎂 Wishing you a wonderful day.",
        )
    ]
    assert rt.platform.rest.asked == [["PrivateChat"]]


def test_the_task_reads_the_birthdays_file_from_smartfriends_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "birthdays.json"
    path.write_text(json.dumps({JOHN_ID: "05-06"}), encoding="utf-8")
    sent: list[Outgoing] = []
    monkeypatch.setattr(jobs, "settings", lambda: SmartFriendSettings(birthdays_file=str(path)))
    monkeypatch.setattr(jobs, "runtime", fake_runtime)
    monkeypatch.setattr(jobs, "enqueue_reply", sent.append)

    assert jobs.birthday_greetings.run(day="2017-05-06") == {"date": "2017-05-06", "greetings": 1}
    assert jobs.birthday_greetings.run(day="2017-05-07") == {"date": "2017-05-07", "greetings": 0}
    assert [o.reply.key for o in sent] == ["birthday:2017-05-06:1234:0"]


def test_the_task_keeps_its_ops_name_and_is_routed_to_the_ops_queue() -> None:
    assert app.tasks["tasks.ops.birthday_greetings"].name == jobs.birthday_greetings.name
    assert app.amqp.router.route({}, "tasks.ops.birthday_greetings")["queue"].name == "ops"


def test_beat_runs_the_greetings_every_day_at_nine_utc_on_the_ops_queue() -> None:
    entry = app.conf.beat_schedule["birthday-greetings"]

    assert entry["task"] == "tasks.ops.birthday_greetings"
    assert entry["schedule"] == crontab(hour=9, minute=0)
    assert entry["options"] == {"queue": "ops"}
    assert app.conf.timezone == "UTC"


@pytest.mark.parametrize("configured_first", [False, True])
def test_the_beat_entry_is_added_whether_the_app_is_configured_before_or_after(
    configured_first: bool,
) -> None:
    """Importing the job must not configure the app; beat configures it before it imports."""
    other = Celery("jobs-test", set_as_current=False)
    if configured_first:
        other.conf.beat_schedule = {"canary": {"task": "tasks.ops.canary", "schedule": 60.0}}

    jobs.schedule_birthday_greetings(other)

    assert sorted(other.conf.beat_schedule) == (
        ["birthday-greetings", "canary"] if configured_first else ["birthday-greetings"]
    )
    assert other.conf.beat_schedule["birthday-greetings"]["task"] == jobs.BIRTHDAY_GREETINGS
