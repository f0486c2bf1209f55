"""Birthday greetings for a given day, from a file, to the person's private chat."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from glipbot.testing import BOT_ID, JOHN_ID, FakeDirectory
from tasks.smartfriend import (
    FileBirthdaySource,
    SmartFriendSettings,
    birthday_greetings,
    birthday_source,
)
from tasks.smartfriend.birthdays import BirthdayFileError, NoBirthdays

JANE_ID, BOB_ID = "1002", "1003"


@pytest.fixture
def directory() -> FakeDirectory:
    return (
        FakeDirectory.seed()
        .add_person(JANE_ID, "Jane", "Doe", "Jane.Doe@example.com")
        .add_person(BOB_ID, "Bob")
    )


CHATS = [
    {"id": "1234", "type": "PrivateChat", "members": [JOHN_ID, BOT_ID]},
    {"id": "5678", "type": "PrivateChat", "members": [BOT_ID, JANE_ID]},
    {"id": "9999", "type": "Team", "members": [JOHN_ID, JANE_ID, BOB_ID, BOT_ID]},
]


def write_json(tmp_path: Path, data: dict[str, str]) -> FileBirthdaySource:
    path = tmp_path / "birthdays.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return FileBirthdaySource(path)


def test_people_born_today_are_greeted_in_their_private_chat(
    tmp_path: Path, directory: FakeDirectory
) -> None:
    source = write_json(tmp_path, {JOHN_ID: "05-06", "jane.doe@example.com": "05-06"})
    assert birthday_greetings(date(2017, 5, 6), source, directory, CHATS) == [
        ("1234", "Happy birthday, John! 🎂 Wishing you a wonderful day."),
        ("5678", "Happy birthday, Jane! 🎂 Wishing you a wonderful day."),
    ]


def test_nobody_is_greeted_on_another_day(tmp_path: Path, directory: FakeDirectory) -> None:
    source = write_json(tmp_path, {JOHN_ID: "05-06"})
    assert birthday_greetings(date(2017, 5, 7), source, directory, CHATS) == []
    assert directory.calls == []


def test_someone_without_a_private_chat_is_skipped(
    tmp_path: Path, directory: FakeDirectory
) -> None:
    source = write_json(tmp_path, {BOB_ID: "05-06"})
    assert birthday_greetings(date(2017, 5, 6), source, directory, CHATS) == []


def test_leap_day_birthdays_are_greeted_on_february_28_in_other_years(
    tmp_path: Path, directory: FakeDirectory
) -> None:
    source = write_json(tmp_path, {JOHN_ID: "02-29"})
    assert len(birthday_greetings(date(2017, 2, 28), source, directory, CHATS)) == 1
    assert birthday_greetings(date(2016, 2, 28), source, directory, CHATS) == []
    assert len(birthday_greetings(date(2016, 2, 29), source, directory, CHATS)) == 1


def test_a_csv_file_with_a_header_and_full_birth_dates(tmp_path: Path) -> None:
    path = tmp_path / "birthdays.csv"
    path.write_text("person,birthday\n1001,1980-05-06\njane@example.com, 12-24\n\n")
    assert FileBirthdaySource(path).entries() == [
        ("1001", (5, 6)),
        ("jane@example.com", (12, 24)),
    ]


@pytest.mark.parametrize("content", ["1001,13-01\n", "1001,02-30\n", "1001\n", "1001,05-06,x\n"])
def test_a_malformed_file_is_reported(tmp_path: Path, content: str) -> None:
    path = tmp_path / "birthdays.csv"
    path.write_text(content)
    with pytest.raises(BirthdayFileError):
        FileBirthdaySource(path).entries()


def test_the_setting_names_the_file(tmp_path: Path) -> None:
    environ = {"BIRTHDAYS_FILE": str(tmp_path / "b.json")}
    source = birthday_source(SmartFriendSettings.from_env(environ, env_file=None))
    assert isinstance(source, FileBirthdaySource)
    assert source.path == tmp_path / "b.json"
    assert isinstance(birthday_source(SmartFriendSettings.from_env({}, env_file=None)), NoBirthdays)


def test_the_environment_wins_over_the_env_file_as_for_the_platforms_settings(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("BIRTHDAYS_FILE=from-file.json\n")

    assert SmartFriendSettings.from_env({}, env_file=env_file).birthdays_file == "from-file.json"
    environ = {"BIRTHDAYS_FILE": "from-env.csv"}
    assert SmartFriendSettings.from_env(environ, env_file=env_file).birthdays_file == "from-env.csv"
