"""Dates as people type them: ``05/06/17``, ``5/6/2017``, ``2017-05-06``, ``May 6, 2017``...

Also ``6 May 2017``, ``Sept. 6th``, ``6th of May``, ``today`` and ``tomorrow``.

Slashes are read US-style, month first (SmartFriend's seed is American:
``05/06/17`` is May 6). Two-digit years are 20xx. Spaces around separators are
tolerated (``05/  06/17``). Forms without a year (``May 6``, ``5/6``) and the
words ``today`` and ``tomorrow`` need the current date and are skipped without it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

# Own tables rather than calendar.month_name: those follow the process's locale.
_MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTH = (
    r"(?P<mname>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?"
)
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_PATTERNS = (
    re.compile(r"\b(?P<year>\d{4})\s*-\s*(?P<month>\d{1,2})\s*-\s*(?P<day>\d{1,2})\b"),
    re.compile(
        r"(?<![\d/])(?P<month>\d{1,2})\s*/\s*(?P<day>\d{1,2})(?:\s*/\s*(?P<year>\d{4}|\d{2}))?(?![\d/])"
    ),
    re.compile(rf"\b{_MONTH}\s+{_DAY}\b(?:\s*,?\s*(?P<year>\d{{4}})\b)?", re.IGNORECASE),
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}(?:\s*,?\s*(?P<year>\d{{4}})\b)?", re.IGNORECASE),
    re.compile(r"\b(?P<relative>today|tomorrow)\b", re.IGNORECASE),
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class InvalidDateError(ValueError):
    """Text shaped like a date that is not one (``13/45/17``)."""

    def __init__(self, text: str) -> None:
        super().__init__(f"not a valid date: {text!r}")
        self.text = text


@dataclass(frozen=True)
class FoundDate:
    """A date found in a text, with where it was."""

    value: date
    start: int
    end: int


def find_dates(text: str, today: date | None = None) -> list[FoundDate]:
    """Every date in ``text``, in order of appearance; overlapping forms count once.

    Raises :class:`InvalidDateError` for a date-shaped text that is no date.
    """
    found: list[FoundDate] = []
    for pattern in _PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < f.end and f.start < m.end() for f in found):
                continue
            value = _to_date(m, today)
            if value is not None:
                found.append(FoundDate(value, m.start(), m.end()))
    return sorted(found, key=lambda f: f.start)


def remove_span(text: str, start: int, end: int) -> str:
    """``text`` without ``text[start:end]``, leaving a space so words stay apart."""
    return f"{text[:start]} {text[end:]}"


def format_date(value: date) -> str:
    """``Saturday, May 6, 2017``, independent of the process's locale."""
    month = _MONTH_NAMES[value.month - 1].capitalize()
    return f"{_WEEKDAYS[value.weekday()]}, {month} {value.day}, {value.year}"


def _to_date(m: re.Match[str], today: date | None) -> date | None:
    groups = m.groupdict()
    if groups.get("relative"):
        if today is None:
            return None
        return today + timedelta(days=1 if groups["relative"].lower() == "tomorrow" else 0)
    month = _month_number(groups["mname"]) if groups.get("mname") else int(groups["month"])
    day = int(groups["day"])
    year_text = groups.get("year")
    try:
        if year_text:
            year = int(year_text)
            return date(year + 2000 if year < 100 else year, month, day)
        if today is None:
            return None
        return _next_occurrence(today, month, day)
    except ValueError:
        raise InvalidDateError(m.group(0).strip()) from None


def _month_number(name: str) -> int:
    prefix = name.rstrip(".").lower()[:3]
    return next(i for i, full in enumerate(_MONTH_NAMES, start=1) if full.startswith(prefix))


def _next_occurrence(today: date, month: int, day: int) -> date:
    candidate = date(today.year, month, day)
    return candidate if candidate >= today else date(today.year + 1, month, day)
