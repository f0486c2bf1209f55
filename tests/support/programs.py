"""The system's programs as child processes of the integration tests.

They live in :mod:`devtools.programs`, shared with the fault matrix
(``bench/chaos.py``); this module keeps the tests' import path.
"""

from __future__ import annotations

from devtools.programs import (
    ROOT,
    BeatProcess,
    FlowerProcess,
    ListenerProcess,
    Program,
    WorkerProcess,
)

__all__ = ["ROOT", "BeatProcess", "FlowerProcess", "ListenerProcess", "Program", "WorkerProcess"]
