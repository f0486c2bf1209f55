"""The seed's flight request is booked and confirmed in the seed's form."""

from __future__ import annotations

from datetime import date, time

from glipbot.testing import simulate_post
from tasks.smartfriend import Providers, build_bot
from tasks.smartfriend.airports import find_airport
from tasks.smartfriend.parsing import FlightRequest
from tasks.smartfriend.providers import FlightTicket, OfflineFlightBooking

SEED_REQUEST = (
    "Hi SmartFriend! Please book me a flight New York \N{EN DASH} San Francisco "
    "05/  06/17, ID #5674028947"
)
TODAY = date(2017, 5, 1)


class RecordingBooking:
    """Books the seed's flight and remembers what it was asked."""

    def __init__(self) -> None:
        self.requests: list[FlightRequest] = []

    def book(self, request: FlightRequest) -> FlightTicket:
        self.requests.append(request)
        return FlightTicket(
            flight_number="UA 1532",
            origin=request.origin,
            destination=request.destination,
            date=request.date,
            departure=time(8, 15),
            arrival=time(11, 47),
            passenger_id=request.passenger_id,
            ticket_number="016-2341234567",
        )


def test_the_seed_request_is_confirmed_with_every_field() -> None:
    booking = RecordingBooking()
    bot = build_bot(Providers(flights=booking, today=lambda: TODAY))

    replies = simulate_post(bot, SEED_REQUEST)

    assert booking.requests == [
        FlightRequest(find_airport("JFK"), find_airport("SFO"), date(2017, 5, 6), "5674028947")  # type: ignore[arg-type]
    ]
    assert replies[0].text == (
        "Your flight is booked! ✈\n"
        "Flight: UA 1532\n"
        "Date: Saturday, May 6, 2017\n"
        "From: New York (JFK) 08:15\n"
        "To: San Francisco (SFO) 11:47\n"
        "Passenger ID: 5674028947\n"
        "Ticket number: 016-2341234567"
    )


def test_the_confirmation_also_carries_a_card_with_the_same_fields() -> None:
    bot = build_bot(Providers(flights=RecordingBooking(), today=lambda: TODAY))
    (reply,) = simulate_post(bot, SEED_REQUEST)
    (attachment,) = reply.attachments
    assert attachment["type"] == "Card"
    assert attachment["fallback"] == reply.text
    assert {f["title"]: f["value"] for f in attachment["fields"]} == {
        "Date": "Saturday, May 6, 2017",
        "From": "JFK 08:15",
        "To": "SFO 11:47",
        "Passenger ID": "5674028947",
        "Ticket number": "016-2341234567",
    }


def test_the_offline_booking_of_the_seed_request_is_always_the_same() -> None:
    """Golden values: a change here changes what `make demo` shows."""
    bot = build_bot(Providers(today=lambda: TODAY))
    first = simulate_post(bot, SEED_REQUEST)[0].text
    assert first == simulate_post(bot, SEED_REQUEST)[0].text
    assert first == (
        "Your flight is booked! ✈\n"
        "Flight: AS 2270\n"
        "Date: Saturday, May 6, 2017\n"
        "From: New York (JFK) 15:20\n"
        "To: San Francisco (SFO) 18:01\n"
        "Passenger ID: 5674028947\n"
        "Ticket number: 027-6194114768"
    )


def test_the_same_flight_for_two_passengers_has_two_tickets() -> None:
    jfk, sfo = find_airport("JFK"), find_airport("SFO")
    assert jfk is not None
    assert sfo is not None
    booking = OfflineFlightBooking()
    a = booking.book(FlightRequest(jfk, sfo, date(2017, 5, 6), "111111"))
    b = booking.book(FlightRequest(jfk, sfo, date(2017, 5, 6), "222222"))
    assert (a.flight_number, a.departure, a.arrival) == (b.flight_number, b.departure, b.arrival)
    assert a.ticket_number != b.ticket_number


def test_an_overnight_flight_lands_the_next_day() -> None:
    jfk, nrt = find_airport("JFK"), find_airport("Tokyo")
    assert jfk is not None
    assert nrt is not None
    ticket = OfflineFlightBooking().book(FlightRequest(jfk, nrt, date(2017, 5, 6), "111111"))
    assert ticket.arrival_day_offset == 1


def test_an_unknown_city_gets_a_polite_answer_listing_the_known_ones() -> None:
    bot = build_bot(Providers(today=lambda: TODAY))
    text = simulate_post(bot, "book me a flight Gotham - Boston 05/06/17 ID 1234567")[0].text
    assert text.startswith("Sorry, I don't know the airport for Gotham.")
    assert "New York, Paris, Phoenix, San Francisco" in text


def test_a_request_without_a_date_is_asked_for_one() -> None:
    bot = build_bot(Providers(today=lambda: TODAY))
    text = simulate_post(bot, "book me a flight New York - Boston, ID 1234567")[0].text
    assert text.startswith("What date would you like to fly?")


def test_a_request_without_a_passenger_id_is_asked_for_one() -> None:
    bot = build_bot(Providers(today=lambda: TODAY))
    text = simulate_post(bot, "book me a flight New York - Boston 05/06/17")[0].text
    assert "passenger ID" in text
