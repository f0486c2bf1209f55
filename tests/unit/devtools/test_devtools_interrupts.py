"""devtools.interrupts: SIGINT, SIGTERM and SIGHUP as one exception, held while recording."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from devtools.interrupts import STOP_SIGNALS, Interrupted, StopSignals


@pytest.fixture
def signals() -> Iterator[StopSignals]:
    """Installed stop-signal handlers; pytest's own are put back afterwards."""
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    yield StopSignals().install()
    for sig, handler in previous.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("sig", STOP_SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_each_stop_signal_raises_interrupted_naming_it(
    signals: StopSignals, sig: signal.Signals
) -> None:
    with pytest.raises(Interrupted) as raised:
        signal.raise_signal(sig)  # the handler runs before this returns

    assert raised.value.signum == sig
    assert str(raised.value) == signal.Signals(sig).name
    assert isinstance(raised.value, KeyboardInterrupt)


def _record_while(signals: StopSignals, sig: int, steps: list[str], *, depth: int) -> None:
    """Inside ``depth`` nested deferred blocks, receive ``sig``, then record a step."""
    if depth == 0:
        signal.raise_signal(sig)  # the handler runs before this returns
        return
    with signals.deferred():
        _record_while(signals, sig, steps, depth=depth - 1)
        steps.append(f"recorded at depth {depth}")


def test_a_signal_inside_deferred_is_raised_when_the_block_ends(signals: StopSignals) -> None:
    """A child started and recorded inside the block is recorded before stopping begins."""
    steps: list[str] = []

    with pytest.raises(Interrupted) as raised:
        _record_while(signals, signal.SIGTERM, steps, depth=1)

    assert steps == ["recorded at depth 1"]
    assert raised.value.signum == signal.SIGTERM


def test_nested_deferred_blocks_raise_once_at_the_outermost_end(signals: StopSignals) -> None:
    steps: list[str] = []

    with pytest.raises(Interrupted):
        _record_while(signals, signal.SIGHUP, steps, depth=2)

    assert steps == ["recorded at depth 1", "recorded at depth 2"]


def test_after_ignore_a_stop_signal_changes_nothing(signals: StopSignals) -> None:
    signals.ignore()

    signal.raise_signal(signal.SIGTERM)  # the handler runs before this returns

    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
