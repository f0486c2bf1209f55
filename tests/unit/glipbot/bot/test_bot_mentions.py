"""Mention markup is recognised and stripped."""

from __future__ import annotations

import pytest

from glipbot.bot import strip_mentions
from glipbot.bot.mentions import mentioned_person_ids


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("![:Person](9001) help", "help"),
        ("hey ![:Person](9001), book it", "hey , book it"),
        ("![:Team](55)\n![:Person](9001)   weather\tin Boston ", "weather in Boston"),
        ("no mentions here", "no mentions here"),
        ("![:Person](9001)", ""),
    ],
)
def test_markup_is_stripped_and_whitespace_collapsed(text: str, expected: str) -> None:
    assert strip_mentions(text) == expected


def test_only_person_markup_counts_as_mentioning_a_person() -> None:
    assert mentioned_person_ids("![:Person](1) ![:Team](2) ![:Person](3)") == {"1", "3"}
