"""Settings read from the environment: declare a field, check it, list it, read it.

:func:`setting` declares a dataclass field with its environment variable, a
one-line description and, optionally, the values it accepts (a
:class:`Range`, or any check). :func:`variables` lists a settings class's
fields as :class:`Variable` rows (what the documentation's tables are checked
against), and :func:`read_env` builds an instance from the environment over
``.env``, refusing a value that does not parse or fails its check with a
:class:`~glipbot.errors.ConfigError` naming the variable and the value (never
a secret's value). :class:`glipbot.settings.Settings` and a bot's own settings
class are declared this way.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from dotenv import dotenv_values

from glipbot.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

#: Keys of a setting's ``dataclasses.field`` metadata.
_VARIABLE = "glipbot.variable"
_DESCRIPTION = "glipbot.description"
_SECRET = "glipbot.secret"  # noqa: S105 - a metadata key, not a secret
_CHECK = "glipbot.check"

_T = TypeVar("_T")
_S = TypeVar("_S")

#: A value's check: ``None`` when the value is acceptable, else what it must be
#: (``"must be greater than 0"``), which the error message puts after the name.
Check = Callable[[Any], "str | None"]


@dataclass(frozen=True)
class Range:
    """A check: a finite number from ``low`` to ``high`` (either may be open-ended).

    NaN and the infinities are never in range. ``above=True`` excludes ``low``
    itself ("greater than 0").
    """

    low: float | None = None
    high: float | None = None
    above: bool = False

    def __call__(self, value: float) -> str | None:
        """``None`` when ``value`` is in range, else what it must be."""
        low, high = self.low, self.high
        fine = (
            math.isfinite(value)
            and (low is None or (value > low if self.above else value >= low))
            and (high is None or value <= high)
        )
        return None if fine else f"must be {self}"

    def __str__(self) -> str:
        if self.low is None:
            return "a number" if self.high is None else f"at most {self.high:g}"
        if self.high is not None:
            return f"from {self.low:g} to {self.high:g}"
        return f"greater than {self.low:g}" if self.above else f"at least {self.low:g}"


#: Timeouts, intervals and TTLs: seconds, more than none.
POSITIVE = Range(0, above=True)
#: Margins: seconds, possibly none.
NON_NEGATIVE = Range(0)
#: Counts and caps that must allow at least one.
AT_LEAST_ONE = Range(1)
#: A TCP port to bind; 0 asks the system for a free one.
PORT = Range(0, 65535)


def setting(
    variable: str,
    default: _T,
    description: str,
    *,
    secret: bool = False,
    check: Check | None = None,
) -> _T:
    """A settings field read from the environment variable ``variable``.

    ``description`` is one line for the documentation's tables. A ``secret``
    value is kept out of ``repr`` and out of error messages. ``check`` (a
    :class:`Range`, or any :data:`Check`) says which parsed values are
    acceptable; :func:`read_env` applies it.
    """
    metadata = {
        _VARIABLE: variable,
        _DESCRIPTION: description,
        _SECRET: secret,
        _CHECK: check,
    }
    return field(default=default, repr=not secret, metadata=metadata)


@dataclass(frozen=True)
class Variable:
    """One environment variable behind a settings field, as the docs list it."""

    name: str
    field: str
    default: Any
    description: str
    secret: bool
    #: The field's annotation: ``"str"``, ``"int"``, ``"float"``, ``"bool"``, ...
    kind: Any
    #: What values are acceptable (``None``: any value of the type).
    check: Check | None = None

    def problem(self, value: Any) -> str | None:
        """The error message for ``value`` (naming this variable), or ``None`` if it passes.

        A secret's value is never part of the message.
        """
        wrong = self.check(value) if self.check is not None else None
        if wrong is None:
            return None
        return f"{self.name} {wrong}" if self.secret else f"{self.name} {wrong}, not {value!r}"


def variables(settings_class: type) -> tuple[Variable, ...]:
    """The variables of ``settings_class`` (a dataclass of :func:`setting` fields), in order."""
    found = []
    for f in fields(settings_class):
        if _VARIABLE not in f.metadata:
            raise TypeError(f"{settings_class.__name__}.{f.name} is not declared with setting()")
        found.append(
            Variable(
                name=f.metadata[_VARIABLE],
                field=f.name,
                default=f.default,
                description=f.metadata[_DESCRIPTION],
                secret=f.metadata[_SECRET],
                kind=f.type,
                check=f.metadata.get(_CHECK),
            )
        )
    return tuple(found)


def env_names(settings_class: type) -> dict[str, str]:
    """Field name -> environment variable, for each field of ``settings_class``."""
    return {v.field: v.name for v in variables(settings_class)}


def read_env(
    settings_class: type[_S],
    environ: Mapping[str, str] | None = None,
    env_file: str | Path | None = ".env",
) -> _S:
    """Build ``settings_class`` from ``environ`` (default ``os.environ``) over an optional ``.env``.

    Variables set in the environment win over the file; a variable set in
    neither leaves the field's default. A value that does not parse as the
    field's type, or that fails the field's check, raises
    :class:`~glipbot.errors.ConfigError` naming the variable (the first one
    wrong, in declaration order). Checks that involve several fields are the
    class's own (see :meth:`Settings.from_env`).
    """
    merged = environment(environ, env_file)
    values: dict[str, Any] = {}
    for v in variables(settings_class):
        value = _parse(v, merged[v.name]) if v.name in merged else v.default
        problem = v.problem(value)
        if problem is not None:
            raise ConfigError(problem)
        values[v.field] = value
    return settings_class(**values)


def environment(
    environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> dict[str, str]:
    """``environ`` (default ``os.environ``) over the variables of an optional ``.env`` file.

    What :func:`read_env` reads, and what a check for misspelt variable names
    looks at (see :mod:`glipbot.unknown_variables`).
    """
    merged: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    return merged


def _parse(variable: Variable, raw: str) -> object:
    name, kind = variable.name, variable.kind
    raw = raw.strip()
    try:
        if kind in (bool, "bool"):
            lowered = raw.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(raw)
        if kind in (int, "int"):
            return int(raw)
        if kind in (float, "float"):
            return float(raw)
    except ValueError:
        expected = {"bool": "true or false", "int": "an integer", "float": "a number"}
        what = expected.get(str(getattr(kind, "__name__", kind)), "valid")
        if variable.secret:
            raise ConfigError(f"{name} must be {what}") from None
        raise ConfigError(f"{name} must be {what}, not {raw!r}") from None
    return raw
