"""Reading a flight request: two cities, a date and a passenger ID, in many phrasings.

Handled::

    Please book me a flight New York - San Francisco 05/  06/17, ID #5674028947
    book a flight from Boston to Chicago on May 6, 2017, passenger ID: 12345678
    flight NYC-SFO 2017-05-06 id 5674028947

The cities are split by an en dash, em dash or hyphen (any spacing) or by
"to" (``from X to Y`` too). A hyphen therefore cannot be part of a city name;
none in :mod:`~tasks.smartfriend.airports` has one. Dates follow
:mod:`~tasks.smartfriend.dates` (US month-first for slashes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from tasks.smartfriend.airports import Airport, find_airport
from tasks.smartfriend.dates import find_dates, remove_span

_PASSENGER_ID = re.compile(
    r"(?:\b(?:passenger\s+)?id(?![a-z])\s*(?:number|no\.?|is)?\s*[:#]?\s*#?|#)\s*"
    r"(?P<id>(?=[a-z]*\d)[a-z0-9]{4,20})\b",
    re.IGNORECASE,
)
_ROUTE_START = re.compile(r"\b(?:flights?|fly)\b", re.IGNORECASE)
_FROM = re.compile(r"^\s*(?:me\s+)?from\s+", re.IGNORECASE)
_DASH_SPLIT = re.compile("\\s*[-\N{EN DASH}\N{EM DASH}]+\\s*")
_TO_SPLIT = re.compile(r"\s+to\s+", re.IGNORECASE)
# Where a destination ends: punctuation, or a word that starts the rest of the sentence.
_DESTINATION_END = re.compile(
    r"[,.;!?()]|\s(?:on|for|at|departing|leaving|please|with|and|id)\b", re.IGNORECASE
)
_WORD = re.compile(r"[^\s,.;:!?]+")


class FlightRequestError(ValueError):
    """The request cannot be booked as written; the subclass says what is missing."""


class MissingRouteError(FlightRequestError):
    """No "X - Y" (any dash) or "from X to Y" in the text."""


class UnknownCityError(FlightRequestError):
    """A city without a known airport."""

    def __init__(self, city: str) -> None:
        super().__init__(f"no airport known for {city!r}")
        self.city = city


class SameCityError(FlightRequestError):
    """Origin and destination are the same airport."""

    def __init__(self, airport: Airport) -> None:
        super().__init__(f"origin and destination are both {airport.code}")
        self.airport = airport


class MissingDateError(FlightRequestError):
    """No date in the request."""


class MissingPassengerIdError(FlightRequestError):
    """No passenger ID in the request."""


@dataclass(frozen=True)
class FlightRequest:
    """A complete flight request: what a booking provider needs."""

    origin: Airport
    destination: Airport
    date: date
    passenger_id: str


def parse_flight_request(text: str, today: date | None = None) -> FlightRequest:
    """Read ``text`` into a :class:`FlightRequest`.

    ``today`` resolves dates without a year and "tomorrow". Raises a
    :class:`FlightRequestError` subclass naming the first thing missing or
    wrong, checking the route, then the date, then the passenger ID;
    :class:`~tasks.smartfriend.dates.InvalidDateError` for an impossible date.
    """
    rest = text
    passenger = _PASSENGER_ID.search(rest)
    if passenger is not None:
        rest = remove_span(rest, passenger.start(), passenger.end())
    dates = find_dates(rest, today)
    for found in reversed(dates):
        rest = remove_span(rest, found.start, found.end)
    origin, destination = _route(rest)
    if origin == destination:
        raise SameCityError(origin)
    if not dates:
        raise MissingDateError("no date")
    if passenger is None:
        raise MissingPassengerIdError("no passenger ID")
    return FlightRequest(origin, destination, dates[0].value, passenger["id"])


def _route(text: str) -> tuple[Airport, Airport]:
    start = _ROUTE_START.search(text)
    segment = _FROM.sub("", text[start.end() :] if start else text)
    parts = _DASH_SPLIT.split(segment, maxsplit=1)
    if len(parts) != 2:
        parts = _TO_SPLIT.split(segment, maxsplit=1)
    if len(parts) != 2:
        raise MissingRouteError("no route")
    origin_text, destination_text = parts
    end = _DESTINATION_END.search(destination_text)
    if end is not None:
        destination_text = destination_text[: end.start()]
    return _city(origin_text, from_end=True), _city(destination_text, from_end=False)


def _city(text: str, *, from_end: bool) -> Airport:
    """The longest run of words at the end (origin) or start (destination) naming a city.

    Looking at word runs rather than the whole text skips a greeting before the
    origin ("Hi, New York - ...") or a stray word after the destination.
    """
    words = _WORD.findall(text)
    for size in range(len(words), 0, -1):
        run = words[-size:] if from_end else words[:size]
        airport = find_airport(" ".join(run))
        if airport is not None:
            return airport
    raise UnknownCityError(" ".join(words) or text.strip())
