"""Birthday greetings, sent once a day by the beat schedule through the normal reply path.

This module decides who is greeted where; :mod:`tasks.smartfriend.jobs` is
the Celery task and beat entry that run it.

Where birthdays come from is a :class:`BirthdaySource`; the default reads the
file named by the ``BIRTHDAYS_FILE`` setting, either JSON::

    {"1001": "05-06", "jane.doe@example.com": "12-24"}

or CSV with two columns, person id or e-mail and ``MM-DD`` (a header row is
allowed; a full ``YYYY-MM-DD`` birth date works too).

Where greetings go: the private chat between the bot and the person, found
among the chats the caller passes in (the bot's ``PrivateChat`` list, from
``GET /glip/groups?type=PrivateChat``). A person the bot has no private chat
with is skipped and logged: the bot does not open chats nobody asked for.
People born on February 29 are greeted on February 28 in other years.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from glipbot.bot import CachingDirectory, Directory
from glipbot.errors import NotFoundError
from glipbot.events import Group, parse_group
from glipbot.logging import get_logger
from tasks.smartfriend.settings import SmartFriendSettings

GREETING = "Happy birthday, {name}! 🎂 Wishing you a wonderful day."
_MONTH_DAY = re.compile(r"^(?:\d{4}-)?(?P<month>\d{2})-(?P<day>\d{2})$")

_log = get_logger(__name__)


class BirthdayFileError(ValueError):
    """The birthdays file cannot be read or has a malformed entry."""


class BirthdaySource(Protocol):
    """Whose birthday falls on a given day."""

    def born_on(self, month: int, day: int) -> Sequence[str]:
        """Person ids or e-mails of the people born on ``month``/``day``."""
        ...


class NoBirthdays:
    """The source when none is configured."""

    def born_on(self, month: int, day: int) -> Sequence[str]:
        """Nobody."""
        return []


class FileBirthdaySource:
    """Birthdays from a JSON or CSV file, read again on every call so edits apply."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def born_on(self, month: int, day: int) -> Sequence[str]:
        """The keys whose ``MM-DD`` is ``month``/``day``, in file order."""
        return [key for key, when in self.entries() if when == (month, day)]

    def entries(self) -> list[tuple[str, tuple[int, int]]]:
        """Every ``(person id or e-mail, (month, day))`` in the file."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise BirthdayFileError(f"cannot read {self.path}: {exc}") from exc
        if self.path.suffix.lower() == ".json":
            rows = _json_rows(raw, self.path)
        else:
            rows = [r for r in csv.reader(raw.splitlines()) if r and any(c.strip() for c in r)]
            if rows and len(rows[0]) == 2 and not any(c.isdigit() for c in rows[0][1]):
                rows = rows[1:]  # a header such as "person,birthday"
        return [_entry(row, self.path) for row in rows]


def birthday_source(settings: SmartFriendSettings) -> BirthdaySource:
    """The source the settings name: the ``BIRTHDAYS_FILE``, or nobody."""
    return FileBirthdaySource(settings.birthdays_file) if settings.birthdays_file else NoBirthdays()


def birthday_greetings(
    today: date,
    source: BirthdaySource,
    directory: Directory,
    chats: Iterable[Group | Mapping[str, Any]],
) -> list[tuple[str, str]]:
    """The ``(group id, text)`` greetings to post today, at most one per chat.

    ``chats`` are the bot's chats (Group objects or the platform's JSON); only
    ``PrivateChat`` ones are used.
    """
    keys = list(source.born_on(today.month, today.day))
    if (today.month, today.day) == (2, 28) and not _is_leap(today.year):
        keys += source.born_on(2, 29)
    if not keys:
        return []
    people = directory if isinstance(directory, CachingDirectory) else CachingDirectory(directory)
    chat_of: dict[str, str] = {}
    for chat in (c if isinstance(c, Group) else parse_group(dict(c)) for c in chats):
        if chat.type == "PrivateChat":
            for member in chat.members:
                chat_of.setdefault(member, chat.id)
    greetings: dict[str, str] = {}
    for key in keys:
        person_id = _by_email(key, chat_of, people) if "@" in key else key
        group_id = chat_of.get(person_id or "")
        if person_id is None or group_id is None:
            _log.info("birthdays_no_private_chat", person=key)
            continue
        greetings.setdefault(group_id, GREETING.format(name=_first_name(people, person_id)))
    return list(greetings.items())


def _by_email(email: str, chat_of: Mapping[str, str], people: CachingDirectory) -> str | None:
    wanted = email.strip().casefold()
    for person_id in chat_of:
        try:
            if people.person(person_id).email.casefold() == wanted:
                return person_id
        except NotFoundError:
            continue
    return None


def _first_name(people: CachingDirectory, person_id: str) -> str:
    try:
        return people.person(person_id).first_name or "friend"
    except NotFoundError:
        return "friend"


def _json_rows(raw: str, path: Path) -> list[list[str]]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BirthdayFileError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BirthdayFileError(f"{path} must hold an object of id or e-mail -> MM-DD")
    return [[str(k), str(v)] for k, v in data.items()]


def _entry(row: Sequence[str], path: Path) -> tuple[str, tuple[int, int]]:
    if len(row) != 2:
        raise BirthdayFileError(f"{path}: expected 'id or e-mail, MM-DD', got {row!r}")
    key, when = row[0].strip(), row[1].strip()
    found = _MONTH_DAY.match(when)
    if not key or found is None:
        raise BirthdayFileError(f"{path}: {when!r} for {key!r} is not MM-DD")
    month, day = int(found["month"]), int(found["day"])
    try:
        date(2000, month, day)  # a leap year, so 02-29 is valid
    except ValueError:
        raise BirthdayFileError(f"{path}: {when!r} for {key!r} is not a calendar day") from None
    return key, (month, day)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
