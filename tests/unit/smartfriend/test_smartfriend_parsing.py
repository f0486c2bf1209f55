"""Flight requests in many phrasings, and the ones that cannot be booked."""

from __future__ import annotations

from datetime import date

import pytest

from tasks.smartfriend.parsing import (
    FlightRequestError,
    MissingDateError,
    MissingPassengerIdError,
    MissingRouteError,
    SameCityError,
    UnknownCityError,
    parse_flight_request,
)

EN, EM = "\N{EN DASH}", "\N{EM DASH}"
TODAY = date(2017, 5, 1)


@pytest.mark.parametrize(
    "text",
    [
        f"Hi SmartFriend! Please book me a flight New York {EN} San Francisco 05/  06/17, "
        "ID #5674028947",
        f"book me a flight New York{EN}San Francisco 05/06/17 ID #5674028947",
        f"book me a flight New York {EM} San Francisco 05/06/17 ID #5674028947",
        "book me a flight New York - San Francisco 05/06/17 ID #5674028947",
        "book me a flight New York-San Francisco 05/06/17 ID #5674028947",
        "book me a flight New York to San Francisco 05/06/17 ID #5674028947",
        "please book a flight from New York to San Francisco on May 6, 2017, ID: 5674028947",
        "Book a flight from new york to san francisco on 6 May 2017 id 5674028947",
        "flight NYC - SFO 2017-05-06 ID#5674028947",
        "flight JFK - SF on 5/6/2017, passenger ID 5674028947",
        f"I need a flight New York {EN} San Francisco for May 6th 2017. My ID is 5674028947",
        f"book me a flight New York {EN} San Francisco 05/06/17 #5674028947",
        f"book me a flight   New   York  {EN}  San   Francisco   05 / 06 / 17 ,  ID  #  5674028947",
        f"ID 5674028947: flight New York {EN} San Francisco May 6",
    ],
)
def test_each_phrasing_reads_as_the_seed_request(text: str) -> None:
    request = parse_flight_request(text, today=TODAY)
    assert (request.origin.code, request.destination.code) == ("JFK", "SFO")
    assert request.date == date(2017, 5, 6)
    assert request.passenger_id == "5674028947"


def test_other_cities_and_aliases() -> None:
    request = parse_flight_request("flight from Vegas to London tomorrow ID 12345", today=TODAY)
    assert (request.origin.city, request.destination.city) == ("Las Vegas", "London")
    assert request.date == date(2017, 5, 2)


@pytest.mark.parametrize(
    ("text", "error", "detail"),
    [
        ("book me a flight please, 05/06/17 ID 12345", MissingRouteError, None),
        (f"book me a flight Gotham {EN} Boston 05/06/17 ID 12345", UnknownCityError, "Gotham"),
        (
            "book me a flight Boston to Gotham City, 05/06/17 ID 12345",
            UnknownCityError,
            "Gotham City",
        ),
        (f"book me a flight NYC {EN} New York 05/06/17 ID 12345", SameCityError, None),
        (f"book me a flight Boston {EN} Denver, ID 12345", MissingDateError, None),
        (f"book me a flight Boston {EN} Denver on 05/06/17", MissingPassengerIdError, None),
    ],
)
def test_requests_that_cannot_be_booked_say_why(
    text: str, error: type[FlightRequestError], detail: str | None
) -> None:
    with pytest.raises(error) as caught:
        parse_flight_request(text, today=TODAY)
    if detail is not None:
        assert isinstance(caught.value, UnknownCityError)
        assert caught.value.city == detail
