"""Booking flights: "book me a flight New York - San Francisco 05/06/17, ID #5674028947"."""

from __future__ import annotations

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
    """The booking confirmation, one field a line, in the seed's order."""
    next_day = " (+1 day)" if ticket.arrival_day_offset else ""
    return "\n".join(
        [
            "Your flight is booked! ✈",
            f"Flight: {ticket.flight_number}",
            f"Date: {format_date(ticket.date)}",
            f"From: {ticket.origin.city} ({ticket.origin.code}) {ticket.departure:%H:%M}",
            f"To: {ticket.destination.city} ({ticket.destination.code}) "
            f"{ticket.arrival:%H:%M}{next_day}",
            f"Passenger ID: {ticket.passenger_id}",
            f"Ticket number: {ticket.ticket_number}",
        ]
    )


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
