"""A clock the test moves by hand, for code that takes ``clock: Callable[[], float]``."""

from __future__ import annotations


class FakeClock:
    """Returns ``now``; set it, or :meth:`advance` it."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward."""
        self.now += seconds
