"""SIGINT, SIGTERM and SIGHUP as one exception, held back while a child is being recorded.

A launcher whose programs run in sessions of their own (so that ``make up``
can return while they go on) must stop them itself, whatever ends it:
Ctrl-C (SIGINT), ``kill`` or a supervisor (SIGTERM), a closed terminal
(SIGHUP). Python turns only SIGINT into an exception, and the default action
of the other two ends the launcher at once, leaving every program running.

:class:`StopSignals` makes all three raise :class:`Interrupted` (a
:class:`KeyboardInterrupt`, so ``except KeyboardInterrupt`` and ``finally``
blocks see it as they see Ctrl-C). Inside :meth:`StopSignals.deferred` a
signal is held until the block ends: a child started there always has its
pid written down before the launcher starts stopping. :meth:`StopSignals.ignore`
then keeps a second signal from cutting the clean-up short.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopSignals:
    """Installs handlers for :data:`STOP_SIGNALS` that raise :class:`Interrupted`."""

    def __init__(self) -> None:
        self._depth = 0
        self._pending: int | None = None

    def install(self) -> StopSignals:
        """Route the stop signals to this object (main thread only); return self."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._handle)
        return self

    def ignore(self) -> None:
        """Ignore the stop signals from now on: the launcher is already stopping."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold a stop signal that arrives inside the block; raise it when the block ends."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if not self._depth and self._pending is not None:
            signum, self._pending = self._pending, None
            raise Interrupted(signum)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self._depth:
            self._pending = self._pending or signum
            return
        raise Interrupted(signum)
