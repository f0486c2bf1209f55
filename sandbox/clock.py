"""Time, injectable: every component takes a ``clock`` returning epoch seconds."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], float]

system_clock: Clock = time.time


def iso(ts: float) -> str:
    """ISO 8601 UTC with milliseconds, as RingCentral writes times: ``2024-05-06T07:08:09.123Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
