"""Help, weather, currency, cars and the fallback, with offline providers and a fixed today."""

from __future__ import annotations

from datetime import date

import pytest

from glipbot.bot import Bot
from glipbot.testing import BOT_ID, JOHN_ID, mention, simulate_post
from tasks.smartfriend import Providers, build_bot
from tasks.smartfriend.help import FALLBACK_TEXT, HELP_TEXT

TODAY = date(2017, 5, 1)


@pytest.fixture(scope="module")
def bot() -> Bot:
    return build_bot(Providers(today=lambda: TODAY))


def answer(bot: Bot, text: str) -> str:
    (reply,) = simulate_post(bot, text)
    return reply.text


@pytest.mark.parametrize("text", ["help", "/help", "Help", "what can you do?"])
def test_help_lists_every_intent_with_examples(bot: Bot, text: str) -> None:
    assert answer(bot, text) == HELP_TEXT
    for example in ("book me a flight", "rent a car", "weather in", "convert 100 USD"):
        assert example in HELP_TEXT


def test_anything_else_gets_the_friendly_fallback(bot: Bot) -> None:
    assert answer(bot, "sing me a song") == FALLBACK_TEXT


def test_in_a_group_smartfriend_answers_only_when_mentioned(bot: Bot) -> None:
    members = (JOHN_ID, "1002", BOT_ID)
    assert simulate_post(bot, "help", members=members) == []
    (reply,) = simulate_post(bot, f"{mention(BOT_ID)} help", members=members)
    assert reply.text == HELP_TEXT


def test_weather_today_in_a_city(bot: Bot) -> None:
    text = answer(bot, "weather in Boston")
    assert text.startswith("Weather in Boston on Monday, May 1, 2017: ")
    assert text.endswith("(offline demo data)")


def test_weather_tomorrow_in_a_city(bot: Bot) -> None:
    text = answer(bot, "what's the weather in Paris tomorrow?")
    assert text.startswith("Weather in Paris on Tuesday, May 2, 2017: ")


def test_weather_without_a_city_asks_for_one(bot: Bot) -> None:
    assert answer(bot, "how is the weather").startswith("Which city?")


def test_converting_an_amount(bot: Bot) -> None:
    assert answer(bot, "convert 100 USD to EUR") == (
        "100.00 USD = 92.00 EUR (1 USD = 0.9200 EUR; offline reference rates)."
    )


def test_converting_with_thousands_separators(bot: Bot) -> None:
    assert answer(bot, "how much is 1,000 eur in usd").startswith("1,000.00 EUR = 1,086.96 USD")


def test_an_exchange_rate(bot: Bot) -> None:
    assert answer(bot, "exchange rate USD EUR") == "1 USD = 0.9200 EUR (offline reference rates)."


def test_an_unknown_currency_lists_the_known_ones(bot: Bot) -> None:
    text = answer(bot, "convert 5 USD to XYZ")
    assert text.startswith("Sorry, I don't know the currency XYZ. I know AUD, CAD")


def test_renting_a_car(bot: Bot) -> None:
    lines = answer(bot, "rent a car in Denver from 05/06/17 to 05/09/17").split("\n")
    assert lines[0] == "Your car is reserved! 🚗"
    assert lines[2] == "Pick-up: Denver, Saturday, May 6, 2017"
    assert lines[3] == "Return: Tuesday, May 9, 2017"
    assert lines[4].endswith("(3 days at 75 USD a day)")
    assert lines[5].startswith("Confirmation: CR")


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ("rent a car from 05/06/17 to 05/09/17", "Where would you like to pick up the car?"),
        ("rent a car in Denver on 05/06/17", "From when to when"),
        ("rent a car in Denver from 05/09/17 to 05/06/17", "The return date is before"),
        ("rent a car in Denver from 13/45/17 to 05/06/17", "Sorry, 13/45/17 is not a date"),
    ],
)
def test_car_requests_that_cannot_be_served_say_why(bot: Bot, text: str, start: str) -> None:
    assert answer(bot, text).startswith(start)
