"""The token owner: one shared OAuth token in Redis, refreshed by one process at a time.

Every process reads the token from Redis. When it is missing, about to
expire, or was refused with 401, a process takes the Redis lock, reads again
(another process may have refreshed meanwhile: then it uses theirs), and only
if it is still stale refreshes it (or logs in again when the refresh token is
refused), stores it and releases the lock. No process logs in outside the
lock: RingCentral revokes the oldest of more than about five sessions.

In static bot-token mode the configured token is always used: nobody logs
in, and a 401 is an :class:`~glipbot.errors.AuthError`.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import redis

from glipbot import log_events as ev
from glipbot.errors import AuthError, TransientError
from glipbot.logging import get_logger
from glipbot.platform.auth import Auth
from glipbot.redaction import register_secret
from glipbot.settings import Settings
from glipbot.state.keys import Keys

_log = get_logger(__name__)


@dataclass(frozen=True)
class Token:
    """One token as stored in Redis; times are epoch seconds of the store's clock."""

    access_token: str
    expires_at: float
    refresh_token: str | None = None
    refresh_expires_at: float | None = None
    owner_id: str | None = None
    obtained_at: float = 0.0

    @classmethod
    def from_grant(cls, grant: dict[str, Any], now: float) -> Token:
        """Build from a token endpoint answer received at ``now``."""
        refresh_in = grant.get("refresh_token_expires_in")
        owner = grant.get("owner_id")
        return cls(
            access_token=str(grant["access_token"]),
            expires_at=now + float(grant.get("expires_in", 3600)),
            refresh_token=grant.get("refresh_token") or None,
            refresh_expires_at=now + float(refresh_in) if refresh_in is not None else None,
            owner_id=str(owner) if owner is not None else None,
            obtained_at=now,
        )

    @classmethod
    def from_json(cls, text: str) -> Token:
        """Parse the stored JSON."""
        return cls(**json.loads(text))

    def to_json(self) -> str:
        """The JSON stored in Redis."""
        return json.dumps(asdict(self))

    def needs_refresh(self, now: float, margin: float) -> bool:
        """Whether the token expires within ``margin``, capped at half its lifetime.

        The cap keeps a short-lived token (seconds, in tests) from looking
        stale the moment it is obtained.
        """
        lifetime = self.expires_at - self.obtained_at
        return self.expires_at - min(margin, lifetime / 2) <= now

    def can_refresh(self, now: float) -> bool:
        """Whether a refresh token exists and has not expired."""
        if not self.refresh_token:
            return False
        return self.refresh_expires_at is None or self.refresh_expires_at > now


class TokenStore:
    """The one shared token of a bot; see the module docstring for the protocol."""

    def __init__(
        self,
        settings: Settings,
        redis_client: redis.Redis,
        auth: Auth,
        clock: Callable[[], float] = time.time,
        *,
        lock_timeout: float | None = None,
        lock_wait: float | None = None,
    ) -> None:
        self._settings = settings
        self._redis = redis_client
        self._auth = auth
        self._clock = clock
        self.keys = Keys.from_settings(settings)
        # The lock must outlive a refresh that falls back to a login: two calls.
        self._lock_timeout = lock_timeout or 2 * settings.http_timeout + 10
        self._lock_wait = lock_wait or self._lock_timeout + 5
        self._static = settings.login_mode == "bot_token"

    # -- reading ---------------------------------------------------------------

    def current(self) -> Token | None:
        """The stored token as it is, without logging in or refreshing."""
        if self._static:
            return Token(access_token=self._settings.bot_token, expires_at=math.inf)
        raw = self._redis.get(self.keys.token)
        if raw is None:
            return None
        try:
            token = Token.from_json(str(raw))
        except (ValueError, TypeError):
            _log.warning(ev.TOKEN_STORE_CORRUPT, key=self.keys.token)
            return None
        register_secret(token.access_token, token.refresh_token, rotating=True)
        return token

    def token(self) -> Token:
        """A usable token: the stored one, or a fresh one obtained under the lock."""
        token = self.current()
        if token is not None and not self._stale(token):
            return token
        return self._obtain(stale=None)

    def access_token(self) -> str:
        """The shared access token to send as ``Authorization: Bearer``."""
        return self.token().access_token

    def on_unauthorized(self, stale_token: str) -> str:
        """The platform refused ``stale_token``: return a token to retry with.

        If another process already replaced it, theirs is returned without a
        call; otherwise it is refreshed (or logged in again) under the lock.
        """
        if self._static:
            raise AuthError("the platform refused the static bot token (RINGCENTRAL_BOT_TOKEN)")
        token = self.current()
        if token is not None and token.access_token != stale_token and not self._stale(token):
            return token.access_token
        return self._obtain(stale=stale_token).access_token

    def owner_id(self) -> str:
        """The bot's own person id (from the token, else asked once and cached)."""
        if not self._static:
            owner = self.token().owner_id
            if owner:
                return owner
        token = self.access_token()
        # Keyed by the token, so a new bot token under the same prefix is asked anew.
        key = self.keys.token_owner_id(hashlib.sha256(token.encode()).hexdigest()[:16])
        cached = self._redis.get(key)
        if cached:
            return str(cached)
        owner = str(self._auth.whoami(token)["id"])
        self._redis.set(key, owner)
        return owner

    def counters(self) -> dict[str, int]:
        """How many logins and refreshes the whole cluster made (``logins``, ``refreshes``)."""
        logins, refreshes = self._redis.mget(self.keys.token_logins, self.keys.token_refreshes)
        return {"logins": int(logins or 0), "refreshes": int(refreshes or 0)}

    # -- writing ---------------------------------------------------------------

    def revoke(self) -> None:
        """End the shared session at the platform and forget the token."""
        if self._static:
            return
        token = self.current()
        self._redis.delete(self.keys.token)
        if token is not None:
            self._auth.revoke(token.refresh_token or token.access_token)

    def _stale(self, token: Token) -> bool:
        return token.needs_refresh(self._clock(), self._settings.token_refresh_margin)

    def _obtain(self, stale: str | None) -> Token:
        """Single flight: under the lock, re-read, and refresh only if still needed."""
        lock = self._redis.lock(
            self.keys.token_lock,
            timeout=self._lock_timeout,
            blocking_timeout=self._lock_wait,
        )
        if not lock.acquire():
            # The holder is stuck. A token inside its refresh margin still works
            # until it expires, which beats failing the caller now.
            token = self.current()
            usable = token is not None and token.access_token != stale
            if token is not None and usable and token.expires_at > self._clock():
                return token
            raise TransientError(f"token lock {self.keys.token_lock} busy for {self._lock_wait} s")
        try:
            token = self.current()
            if token is not None and token.access_token != stale and not self._stale(token):
                return token
            fresh = self._refresh_or_login(token)
            self._redis.set(self.keys.token, fresh.to_json())
            return fresh
        finally:
            try:
                lock.release()
            except redis.exceptions.LockError:
                # Held past its timeout: another process may refresh again, which
                # costs a session but is safe; worth knowing about.
                _log.warning(ev.TOKEN_LOCK_EXPIRED_WHILE_HELD, timeout=self._lock_timeout)

    def _refresh_or_login(self, token: Token | None) -> Token:
        if token is not None and token.refresh_token and token.can_refresh(self._clock()):
            try:
                grant = self._auth.refresh(token.refresh_token)
            except AuthError as exc:
                _log.warning(ev.TOKEN_REFRESH_REFUSED, error_code=exc.error_code, status=exc.status)
            else:
                self._redis.incr(self.keys.token_refreshes)
                return self._from_grant(grant, "token_refreshed")
        grant = self._auth.login()
        self._redis.incr(self.keys.token_logins)
        return self._from_grant(grant, "token_login")

    def _from_grant(self, grant: dict[str, Any], event: str) -> Token:
        token = Token.from_grant(grant, self._clock())
        register_secret(token.access_token, token.refresh_token, rotating=True)
        _log.info(
            event,
            expires_in=round(token.expires_at - token.obtained_at),
            owner_id=token.owner_id,
            mode=self._settings.login_mode,
        )
        return token
