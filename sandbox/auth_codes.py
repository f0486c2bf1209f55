"""The authorization codes of public-bot installations, exchanged once at the token endpoint.

RingCentral installs a public bot by calling the app's redirect URI with
``?code=…&creator_extension_id=…``; the app exchanges the code at
``POST /restapi/oauth/token`` (``grant_type=authorization_code``, the same
``redirect_uri``) for the bot's permanent token (BOTS.md §2). A code is good
for one exchange, within its lifetime. Failures answer the token endpoint's
OAuth body, ``invalid_grant`` with RingCentral's codes (api-docs' errors.md):
``OAU-106`` unknown or already used, ``OAU-108`` expired, ``OAU-109`` another
redirect URI, ``OAU-110`` issued to another app. A wrong redirect URI does
not use the code up.
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass

from sandbox.clock import Clock
from sandbox.errors import ApiError, oauth_body

#: Seconds a used or expired code is still remembered (to say why it fails).
_KEPT = 3600.0


@dataclass
class AuthCode:
    """One issued code: for which bot, app and redirect URI, until when."""

    value: str
    bot_id: str
    client_id: str
    redirect_uri: str
    expires_at: float
    used: bool = False


def _refused(code: str, message: str) -> ApiError:
    return ApiError(400, oauth_body("invalid_grant", message, code))


class AuthCodeTable:
    """Issued codes, forgotten :data:`_KEPT` seconds after they expire."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._codes: dict[str, AuthCode] = {}
        self._order: deque[AuthCode] = deque()  # issue order, for forgetting old codes cheaply

    def reset(self) -> None:
        """Forget every code."""
        self._codes.clear()
        self._order.clear()

    def issue(self, bot_id: str, client_id: str, redirect_uri: str, lifetime: float) -> AuthCode:
        """A new single-use code for ``bot_id``, valid ``lifetime`` seconds."""
        now = self._clock()
        # Lifetimes can change at run time, so the oldest is not always the first to expire;
        # forgetting a little late is harmless.
        while self._order and self._order[0].expires_at <= now - _KEPT:
            self._codes.pop(self._order.popleft().value, None)
        code = AuthCode(f"SBXC-{secrets.token_urlsafe(24)}", bot_id, client_id, redirect_uri, 0.0)
        code.expires_at = now + lifetime
        self._codes[code.value] = code
        self._order.append(code)
        return code

    def owner(self, value: str) -> str | None:
        """The bot a code was issued for (used or not), or None for an unknown code."""
        code = self._codes.get(value)
        return None if code is None else code.bot_id

    def redeem(self, value: str, client_id: str, redirect_uri: str) -> str:
        """Use a code up; the bot id it was issued for, or the token endpoint's error."""
        code = self._codes.get(value)
        if code is None:
            raise _refused("OAU-106", "Invalid authorization code")
        if code.client_id != client_id:
            raise _refused("OAU-110", "Authorization code was not issued for this application")
        if code.used:
            raise _refused("OAU-106", "Invalid authorization code: it was already used")
        if code.expires_at <= self._clock():
            raise _refused("OAU-108", "Authorization code is expired")
        if code.redirect_uri != redirect_uri:
            raise _refused("OAU-109", "Redirect URIs do not match")
        code.used = True
        return code.bot_id
