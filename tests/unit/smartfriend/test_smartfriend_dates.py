"""Dates in every form the bot promises to read."""

from __future__ import annotations

from datetime import date

import pytest

from tasks.smartfriend.dates import InvalidDateError, find_dates, format_date

TODAY = date(2017, 5, 1)
MAY_6 = date(2017, 5, 6)


@pytest.mark.parametrize(
    "text",
    [
        "05/06/17",
        "05/  06/17",
        "5/6/2017",
        "05 / 06 / 2017",
        "2017-05-06",
        "2017 - 5 - 6",
        "May 6, 2017",
        "may 6 2017",
        "May 6th, 2017",
        "6 May 2017",
        "6th of May 2017",
        "Sat May 6",
        "6 may",
        "5/6",
    ],
)
def test_each_form_reads_as_may_6_2017(text: str) -> None:
    assert [f.value for f in find_dates(f"on {text}, please", TODAY)] == [MAY_6]


def test_slashes_are_month_first() -> None:
    assert find_dates("12/01/17")[0].value == date(2017, 12, 1)


def test_tomorrow_and_dates_without_a_year_need_today() -> None:
    assert find_dates("tomorrow or May 6") == []
    assert [f.value for f in find_dates("tomorrow", TODAY)] == [date(2017, 5, 2)]


def test_a_date_without_a_year_that_has_passed_is_next_year() -> None:
    assert find_dates("April 30", TODAY)[0].value == date(2018, 4, 30)


def test_several_dates_come_in_order_of_appearance() -> None:
    found = find_dates("from 05/06/17 to May 9, 2017")
    assert [f.value for f in found] == [MAY_6, date(2017, 5, 9)]


def test_words_that_look_like_months_are_not_dates() -> None:
    assert find_dates("Mark 5 wants a flight, may 2 people come?") == []


@pytest.mark.parametrize("text", ["13/45/17", "2017-02-30", "Feb 30, 2017"])
def test_impossible_dates_are_reported(text: str) -> None:
    with pytest.raises(InvalidDateError) as caught:
        find_dates(f"on {text}")
    assert caught.value.text == text


def test_dates_are_formatted_in_english_whatever_the_locale() -> None:
    assert format_date(MAY_6) == "Saturday, May 6, 2017"
