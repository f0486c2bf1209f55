"""Variables in the environment that look like settings but are none: likely typos.

A misspelt name (``REDIS_ULR``) is otherwise silently ignored, and the
process runs on the default of the variable that was meant. Each process
checks its environment (and ``.env``) against the names it knows and logs
one warning per suspect, with the known name it is closest to; it is a
warning, not an error, because other software shares the environment.

A name is suspect when it is not known and either starts like a known one
(the same first word: ``REDIS_``, ``RINGCENTRAL_``, ``LISTENER_``,
``BIRTHDAYS_`` ...) or is within two edits of one (case ignored). ``glipbot``
knows only its own settings; the caller passes every name the process
reads (a deployment's list is ``tasks.deployment_variables()``).
Kubernetes' service links (``REDIS_SERVICE_HOST``, ``REDIS_PORT_6379_TCP``
... for a Service named ``redis``) are not suspects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from glipbot import log_events as ev
from glipbot.logging import get_logger
from glipbot.settings import environment

#: Edits (insert, delete, replace, swap two neighbours) within which a name is a near miss.
MAX_EDITS = 2

#: What Kubernetes puts into every pod for each Service of the namespace.
_SERVICE_LINK = re.compile(
    r"[A-Z0-9_]+_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT_\d+_(TCP|UDP|SCTP)(_[A-Z]+)?)"
)
#: ``REDIS_PORT=tcp://10.0.0.7:6379``: the one service link named like a setting.
_SERVICE_PORT = re.compile(r"[A-Z0-9_]+_PORT")
_SERVICE_ADDRESS = re.compile(r"(tcp|udp|sctp)://[^/]+")

_log = get_logger(__name__)


@dataclass(frozen=True)
class UnknownVariable:
    """A variable that looks like a setting but is none; ``suggestion`` is the closest known."""

    name: str
    suggestion: str | None


def find_unknown(environ: Mapping[str, str], known: Iterable[str]) -> list[UnknownVariable]:
    """The suspect variables of ``environ`` (see the module docstring), sorted by name.

    Each comes with the known name it is closest to, if one is near.
    """
    known_set = set(known)
    prefixes = tuple(sorted({_first_word(name) for name in known_set if "_" in name}))
    found = []
    for name in sorted(set(environ) - known_set):
        if _service_link(name, environ[name]):
            continue
        suggestion = _closest(name, known_set)
        if suggestion is not None or name.upper().startswith(prefixes):
            found.append(UnknownVariable(name, suggestion))
    return found


def warn_unknown(
    known: Iterable[str],
    environ: Mapping[str, str] | None = None,
    env_file: str | Path | None = ".env",
) -> list[UnknownVariable]:
    """Log one warning for each suspect variable of the environment and ``.env``; return them."""
    found = find_unknown(environment(environ, env_file), known)
    for item in found:
        _log.warning(ev.SETTING_UNKNOWN, variable=item.name, did_you_mean=item.suggestion)
    return found


def _service_link(name: str, value: str) -> bool:
    if _SERVICE_LINK.fullmatch(name):
        return True
    return bool(_SERVICE_PORT.fullmatch(name) and _SERVICE_ADDRESS.fullmatch(value))


def _first_word(name: str) -> str:
    return name.split("_", 1)[0] + "_"


def _closest(name: str, known: set[str]) -> str | None:
    upper = name.upper()
    best: tuple[int, str] | None = None
    for candidate in sorted(known):
        if abs(len(candidate) - len(upper)) > MAX_EDITS:
            continue
        edits = _edits(upper, candidate)
        if edits <= MAX_EDITS and (best is None or edits < best[0]):
            best = (edits, candidate)
    return best[1] if best is not None else None


def _edits(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, swaps."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            cost = 0 if char_a == char_b else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]
