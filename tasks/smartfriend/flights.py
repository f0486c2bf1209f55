"""Booking flights: "book me a flight New York - San Francisco 05/06/17, ID #5674028947"."""

from __future__ import annotations

import string
from datetime import date

from glipbot.bot import Bot, Context, card
from tasks.smartfriend.airports import known_cities
from tasks.smartfriend.dates import InvalidDateError, format_date
from tasks.smartfriend.parsing import (
    FlightRequestError,
    MissingDateError,
    MissingPassengerIdError,
    MissingRouteError,
    SameCityError,
    UnknownCityError,
    parse_flight_request,
)
from tasks.smartfriend.providers import FlightTicket, Providers

EXAMPLE = '"book me a flight New York \N{EN DASH} San Francisco 05/06/17, ID #5674028947"'
CARD_COLOR = "#0073AE"
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def register(bot: Bot, providers: Providers) -> None:
    """Add the flight booking intent."""

    @bot.match(r"\b(?:flights?|fly)\b")
    def book_flight(ctx: Context) -> None:
        try:
            request = parse_flight_request(ctx.text, today=providers.today())
        except (FlightRequestError, InvalidDateError) as exc:
            ctx.log.info("flights_unparsed", reason=type(exc).__name__)
            ctx.say(problem_text(exc))
            return
        ticket = providers.flights.book(request)
        ctx.log.info("flights_booked", flight=ticket.flight_number, date=str(ticket.date))
        ctx.say(confirmation_text(ticket), card=confirmation_card(ticket))


def problem_text(exc: Exception) -> str:
    """What to tell the person when their request cannot be booked as written."""
    if isinstance(exc, UnknownCityError):
        return (
            f"Sorry, I don't know the airport for {exc.city}. "
            f"I can book flights between {', '.join(known_cities())}."
        )
    if isinstance(exc, SameCityError):
        return f"Both ends of that flight are {exc.airport.city}. Where would you like to go?"
    if isinstance(exc, MissingDateError):
        return "What date would you like to fly? For example 05/06/17 or May 6, 2017."
    if isinstance(exc, InvalidDateError):
        return f"Sorry, {exc.text} is not a date I can read. Try 05/06/17 or May 6, 2017."
    if isinstance(exc, MissingPassengerIdError):
        return 'Please add the passenger ID, for example "ID #5674028947".'
    if isinstance(exc, MissingRouteError):
        return f"Where would you like to fly from and to? For example: {EXAMPLE}."
    return f"Sorry, I couldn't read that request. For example: {EXAMPLE}."


def confirmation_text(ticket: FlightTicket) -> str:
    """The seed's booking confirmation, with this ticket's fields in the seed's form.

    "Absolutely! Your flight is booked \N{EN DASH} DL459 06MAY JFK-SFO 0805 1145, ticket
    number 550166377762. Have a safe trip!": the flight without a space, the
    day and month as DDMON, the airports' codes, departure and arrival as
    HHMM (``+1`` after an arrival on the next day), the ticket number's digits.
    """
    next_day = f"+{ticket.arrival_day_offset}" if ticket.arrival_day_offset else ""
    return (
        "Absolutely! Your flight is booked \N{EN DASH} "
        f"{_compact(ticket.flight_number)} {_ddmon(ticket.date)} "
        f"{ticket.origin.code}-{ticket.destination.code} "
        f"{ticket.departure:%H%M} {ticket.arrival:%H%M}{next_day}, "
        f"ticket number {_digits(ticket.ticket_number)}. Have a safe trip!"
    )


def _compact(flight_number: str) -> str:
    return "".join(flight_number.split())


def _ddmon(day: date) -> str:
    # Own table rather than %b, which follows the process's locale.
    return f"{day.day:02d}{_MONTHS[day.month - 1]}"


def _digits(ticket_number: str) -> str:
    return "".join(c for c in ticket_number if c in string.digits)


def confirmation_card(ticket: FlightTicket) -> dict[str, object]:
    """The same confirmation as a Card, for clients that render cards."""
    return card(
        title=f"Flight {ticket.flight_number}",
        text=f"{ticket.origin.city} → {ticket.destination.city}",
        color=CARD_COLOR,
        fields=[
            ("Date", format_date(ticket.date), "Long"),
            ("From", f"{ticket.origin.code} {ticket.departure:%H:%M}"),
            ("To", f"{ticket.destination.code} {ticket.arrival:%H:%M}"),
            ("Passenger ID", ticket.passenger_id),
            ("Ticket number", ticket.ticket_number),
        ],
        footnote="Booked by SmartFriend",
        fallback=confirmation_text(ticket),
    )
