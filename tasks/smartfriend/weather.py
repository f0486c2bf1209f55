"""The weather: "weather in Boston", "what's the weather in Paris tomorrow"."""

from __future__ import annotations

import re

from glipbot.bot import Bot, Context
from tasks.smartfriend.airports import find_airport
from tasks.smartfriend.dates import InvalidDateError, find_dates, format_date
from tasks.smartfriend.providers import Forecast, Providers

_CITY = re.compile(
    r"\b(?:in|for|at)\s+(?P<city>[a-z][a-z .'-]*?)"
    r"(?=\s+(?:today|tomorrow|on|this|next|in|at)\b|\s*\d|\s*[?!.,]|\s*$)",
    re.IGNORECASE,
)


def register(bot: Bot, providers: Providers) -> None:
    """Add the weather intent."""

    @bot.match(r"\b(?:weather|forecast)\b")
    def weather(ctx: Context) -> str:
        found = _CITY.search(ctx.text)
        if found is None:
            return 'Which city? For example: "weather in Boston".'
        today = providers.today()
        try:
            dates = find_dates(ctx.text, today)
        except InvalidDateError as exc:
            return f"Sorry, {exc.text} is not a date I can read."
        airport = find_airport(found["city"])
        city = airport.city if airport else found["city"].strip().title()
        return forecast_text(providers.weather.forecast(city, dates[0].value if dates else today))


def forecast_text(forecast: Forecast) -> str:
    """``Weather in Paris on Sunday, May 7, 2017: sunny, 12-19 °C (54-66 °F).``"""
    low_f, high_f = (round(c * 9 / 5 + 32) for c in (forecast.low_c, forecast.high_c))
    note = f" ({forecast.note})" if forecast.note else ""
    return (
        f"Weather in {forecast.city} on {format_date(forecast.day)}: {forecast.summary}, "
        f"{forecast.low_c}\N{EN DASH}{forecast.high_c} °C ({low_f}\N{EN DASH}{high_f} °F).{note}"
    )
