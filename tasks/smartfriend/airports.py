"""The cities SmartFriend can fly between, with their main airport.

Coordinates and UTC offsets let the offline booking derive plausible flight
times. Offsets are standard time: daylight saving shifts both ends of most
routes alike, and the times are demo data anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Airport:
    """An airport and the city it serves."""

    code: str
    city: str
    lat: float
    lon: float
    utc_offset: float


AIRPORTS: tuple[Airport, ...] = (
    Airport("JFK", "New York", 40.64, -73.78, -5),
    Airport("SFO", "San Francisco", 37.62, -122.38, -8),
    Airport("LAX", "Los Angeles", 33.94, -118.41, -8),
    Airport("ORD", "Chicago", 41.98, -87.90, -6),
    Airport("BOS", "Boston", 42.36, -71.01, -5),
    Airport("SEA", "Seattle", 47.45, -122.31, -8),
    Airport("DEN", "Denver", 39.86, -104.67, -7),
    Airport("MIA", "Miami", 25.79, -80.29, -5),
    Airport("ATL", "Atlanta", 33.64, -84.43, -5),
    Airport("DFW", "Dallas", 32.90, -97.04, -6),
    Airport("IAD", "Washington", 38.95, -77.46, -5),
    Airport("LAS", "Las Vegas", 36.08, -115.15, -8),
    Airport("PHX", "Phoenix", 33.43, -112.01, -7),
    Airport("YYZ", "Toronto", 43.68, -79.63, -5),
    Airport("LHR", "London", 51.47, -0.45, 0),
    Airport("CDG", "Paris", 49.01, 2.55, 1),
    Airport("FRA", "Frankfurt", 50.04, 8.56, 1),
    Airport("NRT", "Tokyo", 35.77, 140.39, 9),
)

#: Other ways people write the same cities.
_ALIASES = {
    "nyc": "JFK",
    "new york city": "JFK",
    "ny": "JFK",
    "sf": "SFO",
    "san fran": "SFO",
    "la": "LAX",
    "washington dc": "IAD",
    "washington d c": "IAD",
    "dc": "IAD",
    "vegas": "LAS",
}

_BY_CODE = {a.code: a for a in AIRPORTS}
_BY_NAME = {a.city.casefold(): a for a in AIRPORTS} | {k: _BY_CODE[v] for k, v in _ALIASES.items()}
_NOISE = re.compile(r"[^\w\s]")


def find_airport(city: str) -> Airport | None:
    """The airport for a city name, an alias ("NYC") or an IATA code ("JFK"), any case."""
    cleaned = " ".join(_NOISE.sub(" ", city).split())
    if cleaned.upper() in _BY_CODE:
        return _BY_CODE[cleaned.upper()]
    return _BY_NAME.get(cleaned.casefold())


def known_cities() -> list[str]:
    """The cities SmartFriend knows, alphabetically."""
    return sorted(a.city for a in AIRPORTS)
