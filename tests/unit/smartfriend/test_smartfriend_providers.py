"""The offline providers answer the same request the same way, in any process."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from decimal import Decimal

import pytest

from tasks.smartfriend.providers import (
    OfflineCarRental,
    OfflineRates,
    OfflineWeather,
    UnknownCurrencyError,
)

MAY_6, MAY_9 = date(2017, 5, 6), date(2017, 5, 9)


def test_the_same_forecast_for_the_same_city_and_day() -> None:
    weather = OfflineWeather()
    assert weather.forecast("Paris", MAY_6) == OfflineWeather().forecast("Paris", MAY_6)
    forecast = weather.forecast("Paris", MAY_6)
    assert forecast.low_c < forecast.high_c


def test_the_same_car_for_the_same_city_and_dates() -> None:
    first = OfflineCarRental().reserve("Denver", MAY_6, MAY_9)
    assert first == OfflineCarRental().reserve("Denver", MAY_6, MAY_9)
    assert first.total == first.daily_rate * 3


def test_cross_rates_come_from_the_dollar_table() -> None:
    rates = OfflineRates()
    assert rates.rate("USD", "EUR") == Decimal("0.92")
    assert rates.rate("EUR", "EUR") == 1
    with pytest.raises(UnknownCurrencyError):
        rates.rate("USD", "XYZ")


def test_a_flight_booking_is_the_same_in_another_process() -> None:
    """Python's own hash() changes per process; the booking must not."""
    script = (
        "from datetime import date\n"
        "from tasks.smartfriend.airports import find_airport\n"
        "from tasks.smartfriend.parsing import FlightRequest\n"
        "from tasks.smartfriend.providers import OfflineFlightBooking\n"
        "r = FlightRequest(find_airport('JFK'), find_airport('SFO'), date(2017, 5, 6), '5674')\n"
        "t = OfflineFlightBooking().book(r)\n"
        "print(t.flight_number, t.departure, t.arrival, t.ticket_number)\n"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    assert len(runs) == 1
