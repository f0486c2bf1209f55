"""The outside services SmartFriend talks to, as protocols, with offline defaults.

Every default is deterministic and makes no network call: answers derive
from a SHA-256 of the request (never Python's ``hash``, which changes per
process), so the same request always gets the same flight, forecast or car.
A real deployment passes its own implementations in :class:`Providers`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from typing import Protocol

from tasks.smartfriend.airports import Airport
from tasks.smartfriend.parsing import FlightRequest

OFFLINE_NOTE = "offline demo data"


@dataclass(frozen=True)
class FlightTicket:
    """A booked flight. ``arrival_day_offset`` is 1 when it lands the next day."""

    flight_number: str
    origin: Airport
    destination: Airport
    date: date
    departure: time
    arrival: time
    passenger_id: str
    ticket_number: str
    arrival_day_offset: int = 0


class FlightBooking(Protocol):
    """Books flights."""

    def book(self, request: FlightRequest) -> FlightTicket:
        """Book ``request`` and return the ticket."""
        ...


@dataclass(frozen=True)
class Forecast:
    """The weather of one city on one day, temperatures in °C."""

    city: str
    day: date
    summary: str
    low_c: int
    high_c: int
    note: str = ""


class WeatherProvider(Protocol):
    """Forecasts the weather."""

    def forecast(self, city: str, day: date) -> Forecast:
        """The forecast for ``city`` on ``day``."""
        ...


class UnknownCurrencyError(ValueError):
    """A currency code the rates provider does not know."""

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown currency {code!r}")
        self.code = code


class ExchangeRates(Protocol):
    """Currency exchange rates."""

    #: A remark shown with every answer, e.g. where the rates come from ("" for none).
    note: str

    def currencies(self) -> Sequence[str]:
        """The ISO 4217 codes this provider knows."""
        ...

    def rate(self, base: str, quote: str) -> Decimal:
        """How many ``quote`` one ``base`` buys; :class:`UnknownCurrencyError` if unknown."""
        ...


@dataclass(frozen=True)
class CarReservation:
    """A reserved rental car."""

    city: str
    pickup: date
    dropoff: date
    company: str
    car: str
    daily_rate: Decimal
    total: Decimal
    currency: str
    confirmation: str


class CarRental(Protocol):
    """Rents cars."""

    def reserve(self, city: str, pickup: date, dropoff: date) -> CarReservation:
        """Reserve a car in ``city`` from ``pickup`` to ``dropoff``."""
        ...


def _digest(*parts: object) -> int:
    text = "|".join(str(p).casefold() for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:16], "big")


# Carrier code and its IATA ticketing prefix (the first three digits of a ticket number).
_CARRIERS = (("UA", "016"), ("AA", "001"), ("DL", "006"), ("B6", "279"), ("AS", "027"))
_CRUISE_KMH = 800
_TAXI_MINUTES = 30


class OfflineFlightBooking:
    """Plausible tickets: real flight durations and time zones, made-up numbers.

    The flight depends on route and date; the ticket number on the passenger too.
    """

    def book(self, request: FlightRequest) -> FlightTicket:
        """Book ``request`` deterministically."""
        origin, destination = request.origin, request.destination
        flight = _digest("flight", origin.code, destination.code, request.date)
        carrier, prefix = _CARRIERS[flight % len(_CARRIERS)]
        departure = 6 * 60 + (flight // 7 % 180) * 5  # 06:00 to 20:55, on the five minutes
        local_arrival = (
            departure
            + _flight_minutes(origin, destination)
            + round((destination.utc_offset - origin.utc_offset) * 60)
        )
        day_offset, arrival = divmod(local_arrival, 24 * 60)
        ticket = _digest(
            "ticket", origin.code, destination.code, request.date, request.passenger_id
        )
        return FlightTicket(
            flight_number=f"{carrier} {100 + flight // 1301 % 2900}",
            origin=origin,
            destination=destination,
            date=request.date,
            departure=time(*divmod(departure, 60)),
            arrival=time(*divmod(arrival, 60)),
            passenger_id=request.passenger_id,
            ticket_number=f"{prefix}-{ticket % 10**10:010d}",
            arrival_day_offset=day_offset,
        )


def _flight_minutes(a: Airport, b: Airport) -> int:
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    cos_angle = math.sin(lat1) * math.sin(lat2) + math.cos(lat1) * math.cos(lat2) * math.cos(
        lon2 - lon1
    )
    km = 6371 * math.acos(max(-1.0, min(1.0, cos_angle)))
    return round(km / _CRUISE_KMH * 60) + _TAXI_MINUTES


_SKIES = ("sunny", "clear skies", "partly cloudy", "cloudy", "light rain", "showers", "windy")


class OfflineWeather:
    """Made-up but stable weather: the same city and day always get the same forecast."""

    def forecast(self, city: str, day: date) -> Forecast:
        """The forecast for ``city`` on ``day``, deterministically."""
        h = _digest("weather", city, day)
        high = 5 + h % 26
        return Forecast(
            city=city,
            day=day,
            summary=_SKIES[h // 31 % len(_SKIES)],
            low_c=high - 4 - h // 997 % 7,
            high_c=high,
            note=OFFLINE_NOTE,
        )


#: Units of each currency per US dollar: fixed reference rates, good enough for a demo.
OFFLINE_RATES: dict[str, Decimal] = {
    "USD": Decimal("1"),
    "EUR": Decimal("0.92"),
    "GBP": Decimal("0.79"),
    "JPY": Decimal("150.0"),
    "CAD": Decimal("1.36"),
    "AUD": Decimal("1.52"),
    "CHF": Decimal("0.89"),
    "CNY": Decimal("7.20"),
    "INR": Decimal("83.0"),
    "MXN": Decimal("17.0"),
    "SEK": Decimal("10.5"),
}


class OfflineRates:
    """Cross rates computed from :data:`OFFLINE_RATES`."""

    note = "offline reference rates"

    def currencies(self) -> Sequence[str]:
        """The known codes, alphabetically."""
        return sorted(OFFLINE_RATES)

    def rate(self, base: str, quote: str) -> Decimal:
        """How many ``quote`` one ``base`` buys."""
        for code in (base, quote):
            if code.upper() not in OFFLINE_RATES:
                raise UnknownCurrencyError(code)
        return OFFLINE_RATES[quote.upper()] / OFFLINE_RATES[base.upper()]


_COMPANIES = ("Hertz", "Avis", "Enterprise", "Budget")
_CARS = ("Toyota Corolla or similar", "Ford Escape or similar", "Chevrolet Malibu or similar")


class OfflineCarRental:
    """Stable reservations: the same city and dates always get the same car and price."""

    def reserve(self, city: str, pickup: date, dropoff: date) -> CarReservation:
        """Reserve deterministically; a same-day return counts as one day."""
        h = _digest("car", city, pickup, dropoff)
        daily = Decimal(35 + h % 55)
        days = max(1, (dropoff - pickup).days)
        return CarReservation(
            city=city,
            pickup=pickup,
            dropoff=dropoff,
            company=_COMPANIES[h // 53 % len(_COMPANIES)],
            car=_CARS[h // 211 % len(_CARS)],
            daily_rate=daily,
            total=daily * days,
            currency="USD",
            confirmation=f"CR{h % 16**6:06X}",
        )


@dataclass(frozen=True)
class Providers:
    """Everything SmartFriend's intents depend on; the defaults are offline."""

    flights: FlightBooking = field(default_factory=OfflineFlightBooking)
    weather: WeatherProvider = field(default_factory=OfflineWeather)
    rates: ExchangeRates = field(default_factory=OfflineRates)
    cars: CarRental = field(default_factory=OfflineCarRental)
    #: Today's date, for "tomorrow" and dates without a year; injectable for tests.
    today: Callable[[], date] = date.today
