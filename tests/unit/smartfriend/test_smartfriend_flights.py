"""The seed's flight request is booked and confirmed in the seed's form."""

from __future__ import annotations

from datetime import date, time

from glipbot.testing import simulate_post
from tasks.smartfriend import Providers, build_bot
from tasks.smartfriend.airports import find_airport
from tasks.smartfriend.flights import confirmation_text
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


def test_the_seed_request_is_confirmed_in_the_seeds_words_with_the_bookings_fields() -> None:
    """Flight without a space, DDMON date, IATA-IATA, HHMM times, the ticket's digits."""
    booking = RecordingBooking()
    bot = build_bot(Providers(flights=booking, today=lambda: TODAY))

    replies = simulate_post(bot, SEED_REQUEST)

    assert booking.requests == [
        FlightRequest(find_airport("JFK"), find_airport("SFO"), date(2017, 5, 6), "5674028947")  # type: ignore[arg-type]
    ]
    assert replies[0].text == (
        "Absolutely! Your flight is booked \N{EN DASH} UA1532 06MAY JFK-SFO 0815 1147, "
        "ticket number 0162341234567. Have a safe trip!"
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
        "Absolutely! Your flight is booked \N{EN DASH} AS2270 06MAY JFK-SFO 1520 1801, "
        "ticket number 0276194114768. Have a safe trip!"
    )


def test_the_seeds_own_booking_reads_exactly_as_the_seed_wrote_it() -> None:
    """The seed's example ticket (DL 459 on May 6, 08:05 to 11:45) gives its words verbatim."""
    jfk, sfo = find_airport("JFK"), find_airport("SFO")
    assert jfk is not None
    assert sfo is not None
    ticket = FlightTicket(
        flight_number="DL 459",
        origin=jfk,
        destination=sfo,
        date=date(2017, 5, 6),
        departure=time(8, 5),
        arrival=time(11, 45),
        passenger_id="5674028947",
        ticket_number="550-166377762",
    )

    assert confirmation_text(ticket) == (
        "Absolutely! Your flight is booked \N{EN DASH} DL459 06MAY JFK-SFO 0805 1145, "
        "ticket number 550166377762. Have a safe trip!"
    )


def test_a_next_day_arrival_is_marked_plus_one_and_a_january_date_is_jan() -> None:
    jfk, nrt = find_airport("JFK"), find_airport("Tokyo")
    assert jfk is not None
    assert nrt is not None
    ticket = FlightTicket(
        flight_number="UA 79",
        origin=jfk,
        destination=nrt,
        date=date(2018, 1, 9),
        departure=time(11, 0),
        arrival=time(14, 30),
        passenger_id="1",
        ticket_number="016 0000000001",
        arrival_day_offset=1,
    )

    assert confirmation_text(ticket) == (
        "Absolutely! Your flight is booked \N{EN DASH} UA79 09JAN JFK-NRT 1100 1430+1, "
        "ticket number 0160000000001. Have a safe trip!"
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
