"""Car rental: "rent a car in Denver from 05/06/17 to 05/09/17"."""

from __future__ import annotations

import re

from glipbot.bot import Bot, Context
from tasks.smartfriend.airports import find_airport
from tasks.smartfriend.dates import InvalidDateError, find_dates, format_date
from tasks.smartfriend.providers import CarReservation, Providers

_CITY = re.compile(
    r"\b(?:in|at)\s+(?P<city>[a-z][a-z .'-]*?)"
    r"(?=\s+(?:from|on|for|between|starting|until|to)\b|\s*\d|\s*[?!.,]|\s*$)",
    re.IGNORECASE,
)
EXAMPLE = '"rent a car in Denver from 05/06/17 to 05/09/17"'


def register(bot: Bot, providers: Providers) -> None:
    """Add the car rental intent."""

    @bot.match(r"\b(?:rent|hire|reserve|book)\b.*\bcar\b|\bcar\s+rental\b")
    def rent_car(ctx: Context) -> str:
        found = _CITY.search(ctx.text)
        if found is None:
            return f"Where would you like to pick up the car? For example: {EXAMPLE}."
        try:
            dates = find_dates(ctx.text, providers.today())
        except InvalidDateError as exc:
            return f"Sorry, {exc.text} is not a date I can read."
        if len(dates) < 2:
            return f"From when to when do you need the car? For example: {EXAMPLE}."
        pickup, dropoff = dates[0].value, dates[1].value
        if dropoff < pickup:
            return "The return date is before the pick-up date. Could you check the dates?"
        airport = find_airport(found["city"])
        city = airport.city if airport else found["city"].strip().title()
        return reservation_text(providers.cars.reserve(city, pickup, dropoff))


def reservation_text(car: CarReservation) -> str:
    """The reservation, one field a line."""
    days = max(1, (car.dropoff - car.pickup).days)
    return "\n".join(
        [
            "Your car is reserved! 🚗",
            f"Car: {car.car} ({car.company})",
            f"Pick-up: {car.city}, {format_date(car.pickup)}",
            f"Return: {format_date(car.dropoff)}",
            (
                f"Price: {car.total} {car.currency} "
                f"({days} days at {car.daily_rate} {car.currency} a day)"
            ),
            f"Confirmation: {car.confirmation}",
        ]
    )
