"""The installations' runtime settings: the CLI's values, changeable through the control API.

=====================  ==================================================  ==========
JSON key               meaning                                             CLI flag
=====================  ==================================================  ==========
``notReadySeconds``    after an install, the bot's subscription creation  ``--bot-not-ready``
                       answers 403 ``SUB-406`` this long (applies to
                       later installs)
``authCodeLifetime``   seconds a public install's code can be exchanged    ``--auth-code-lifetime``
                       (applies to later codes)
``redirectTimeout``    seconds the redirect URI has to answer              ``--redirect-timeout``
``removedErrorCode``   what a removed bot's token answers: ``OAU-232``     (control only)
                       (default) or ``CMN-405``, both 401
=====================  ==================================================  ==========
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from sandbox.config import SandboxConfig
from sandbox.errors import invalid
from sandbox.oauth import DEFAULT_REMOVED_ERROR, REMOVED_ERRORS

#: JSON key (control API) → attribute.
_KEYS = {
    "notReadySeconds": "not_ready_seconds",
    "authCodeLifetime": "auth_code_lifetime",
    "redirectTimeout": "redirect_timeout",
    "removedErrorCode": "removed_error_code",
}


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


@dataclass(frozen=True)
class InstallationSettings:
    """Seconds (fractions allowed) and the removed bot's error code."""

    not_ready_seconds: float
    auth_code_lifetime: float
    redirect_timeout: float
    removed_error_code: str = DEFAULT_REMOVED_ERROR

    @classmethod
    def from_config(cls, config: SandboxConfig) -> InstallationSettings:
        """The values given on the command line."""
        return cls(
            not_ready_seconds=config.bot_not_ready,
            auth_code_lifetime=config.auth_code_lifetime,
            redirect_timeout=config.redirect_timeout,
        )

    def to_json(self) -> dict[str, Any]:
        """The settings under their JSON keys."""
        out: dict[str, Any] = {}
        for key, attr in _KEYS.items():
            value = getattr(self, attr)
            out[key] = value if isinstance(value, str) else _number(value)
        return out

    def updated(self, fields: dict[str, Any]) -> InstallationSettings:
        """A copy with the given JSON keys changed; 400 ``CMN-101`` for a wrong key or value."""
        changes: dict[str, Any] = {}
        for key, value in fields.items():
            attr = _KEYS.get(key)
            if attr is None:
                raise invalid(key, "not an installation setting; use one of " + ", ".join(_KEYS))
            changes[attr] = _checked(key, value)
        return replace(self, **changes)


def _checked(key: str, value: Any) -> str | float:
    if key == "removedErrorCode":
        if value not in REMOVED_ERRORS:
            raise invalid(key, "one of " + ", ".join(REMOVED_ERRORS))
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid(key, "a number of seconds")
    if key == "notReadySeconds" and value < 0:
        raise invalid(key, "a number of seconds, not negative")
    if key != "notReadySeconds" and value <= 0:
        raise invalid(key, "a positive number of seconds")
    return float(value)
