"""The token owner: one shared OAuth token in Redis, refreshed by one process at a time.

Every process reads the token from Redis. When it is missing, about to
expire, or was refused with 401, a process takes the Redis lock, reads again
(another process may have refreshed meanwhile: then it uses theirs), and only
if it is still stale refreshes it (or logs in again when the refresh token is
refused), stores it and releases the lock. No process logs in outside the
lock: RingCentral revokes the oldest of more than about five sessions.

In static bot-token mode the configured token is always used: nobody logs
in, and a 401 is an :class:`~glipbot.errors.AuthError`.

Refused credentials (a wrong password, client secret or JWT; a revoked bot
token) cannot start working by being tried again soon, and each try spends
the Auth group's tiny limit (5 a minute). So a refusal is logged once, as an
error naming the setting to fix, and recorded in Redis
(:class:`LoginFailure`, read with :meth:`TokenStore.login_failure`): until
``retry_at`` no process of the cluster tries those credentials again; each
caller gets a :class:`~glipbot.errors.LoginRefusedError` at once, with
``retry_after``. The record applies only to the credentials that were
refused (a salted hash of them is kept with it), so a process started with
fixed settings logs in at once; a successful login clears it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import redis

from glipbot import log_events as ev
from glipbot.errors import AuthError, LoginRefusedError, TransientError
from glipbot.logging import get_logger
from glipbot.platform.auth import Auth
from glipbot.redaction import register_secret
from glipbot.settings import Settings
from glipbot.state.keys import Keys

_log = get_logger(__name__)

#: Seconds before refused credentials are tried again: a login every few
#: minutes never spends the Auth group's limit (5 a minute).
LOGIN_RETRY_INTERVAL = 300.0
#: How long a refusal stays on record in Redis once its retries stop.
LOGIN_FAILURE_TTL = 24 * 3600
#: PBKDF2 rounds of the credentials' hash kept with a refusal: the record sits
#: in Redis next to the token, and a password must not be guessable from it.
_HASH_ROUNDS = 100_000


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


@dataclass(frozen=True)
class LoginFailure:
    """The last refusal of a bot's credentials, as every process reads it from Redis."""

    #: The variable to fix, e.g. ``RINGCENTRAL_PASSWORD``.
    setting: str
    #: One line for people: what was refused, the platform's codes, what to fix.
    message: str
    status: int | None
    error_code: str | None
    #: Epoch seconds of the refusal, and of the next attempt with these credentials.
    failed_at: float
    retry_at: float
    #: ``salt$hash`` of the refused credentials (never the credentials themselves).
    credentials: str

    def report(self) -> dict[str, Any]:
        """What health and status reports show (no hash)."""
        return {
            "setting": self.setting,
            "message": self.message,
            "status": self.status,
            "error_code": self.error_code,
            "failed_at": self.failed_at,
            "retry_at": self.retry_at,
        }

    def to_json(self) -> str:
        """The JSON stored in Redis."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LoginFailure:
        """Parse the stored JSON."""
        return cls(**json.loads(text))


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
        login_retry_interval: float = LOGIN_RETRY_INTERVAL,
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
        self._login_retry_interval = login_retry_interval
        self._hashes: dict[str, str] = {}  # salt -> hash of this store's credentials

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
        """A usable token: the stored one, or a fresh one obtained under the lock.

        Raises :class:`~glipbot.errors.LoginRefusedError`, without calling the
        platform, while the configured credentials stand refused.
        """
        if self._static:
            self._raise_if_refused()
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
            refused = LoginRefusedError(
                "the platform refused the static bot token: fix RINGCENTRAL_BOT_TOKEN",
                setting="RINGCENTRAL_BOT_TOKEN",
                status=401,
            )
            raise self._record_refusal(refused)
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

    def login_failure(self) -> LoginFailure | None:
        """The recorded refusal of this store's credentials, or ``None``.

        A refusal of other credentials (another process's, or before the
        settings were fixed) is not this store's and is not returned.
        """
        raw = self._redis.get(self.keys.token_login_failure)
        if raw is None:
            return None
        try:
            failure = LoginFailure.from_json(str(raw))
        except (ValueError, TypeError):
            return None
        return failure if self._is_mine(failure.credentials) else None

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
                return self._from_grant(grant, ev.TOKEN_REFRESHED)
        self._raise_if_refused()
        try:
            grant = self._auth.login()
        except LoginRefusedError as exc:
            # The same object, with its own cause kept (``from exc`` would make it its own cause).
            raise self._record_refusal(exc)  # noqa: B904
        self._redis.incr(self.keys.token_logins)
        self._redis.delete(self.keys.token_login_failure)
        return self._from_grant(grant, ev.TOKEN_LOGIN)

    # -- refused credentials -----------------------------------------------------

    def _raise_if_refused(self) -> None:
        failure = self.login_failure()
        now = self._clock()
        if failure is not None and now < failure.retry_at:
            raise LoginRefusedError(
                failure.message,
                setting=failure.setting,
                retry_after=failure.retry_at - now,
                status=failure.status,
                error_code=failure.error_code,
            )

    def _record_refusal(self, exc: LoginRefusedError) -> LoginRefusedError:
        """Record ``exc`` for the whole cluster, log it once, and return it with ``retry_after``."""
        now = self._clock()
        salt = os.urandom(16).hex()
        failure = LoginFailure(
            setting=exc.setting,
            message=str(exc),
            status=exc.status,
            error_code=exc.error_code,
            failed_at=now,
            retry_at=now + self._login_retry_interval,
            credentials=f"{salt}${self._hash(salt)}",
        )
        self._redis.set(self.keys.token_login_failure, failure.to_json(), ex=LOGIN_FAILURE_TTL)
        _log.error(
            ev.LOGIN_REFUSED,
            setting=exc.setting,
            detail=str(exc),
            status=exc.status,
            error_code=exc.error_code,
            retry_in=self._login_retry_interval,
        )
        exc.retry_after = self._login_retry_interval
        return exc

    def _is_mine(self, credentials: str) -> bool:
        salt, _, digest = credentials.partition("$")
        return bool(salt) and hmac.compare_digest(self._hash(salt), digest)

    def _hash(self, salt: str) -> str:
        if salt not in self._hashes:
            s = self._settings
            material = "\0".join(
                (
                    s.server_url,
                    s.login_mode,
                    s.client_id,
                    s.client_secret,
                    s.username,
                    s.extension,
                    s.password,
                    s.jwt,
                    s.bot_token,
                )
            )
            digest = hashlib.pbkdf2_hmac("sha256", material.encode(), salt.encode(), _HASH_ROUNDS)
            self._hashes = {salt: digest.hex()}  # the current record's salt is all that matters
        return self._hashes[salt]

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
