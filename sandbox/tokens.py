"""The token table: OAuth sessions, their access and refresh tokens, and expiry.

A session is one login of one person through one app. Refreshing rotates
both tokens of the session: the old access token dies at once, the old
refresh token keeps answering (with the session's current pair) for
``refresh_grace`` seconds. At most ``max_sessions`` live sessions per
person and app: a new login revokes the oldest, as RingCentral does.
Static bot tokens from the seed are sessions that never expire, as are the
tokens an installed bot gets (:meth:`TokenTable.issue_bot`). When an extension
is removed (a bot uninstalled) its sessions end and their access tokens are
remembered as ``"removed"``, so calls with them can say "Extension not found".
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

from sandbox.clock import Clock
from sandbox.config import BOT_TOKEN_EXPIRES_IN, SandboxConfig

SCOPE = "Glip ReadAccounts SubscriptionPubNub TeamMessaging"
#: The permissions of the sandbox's bot app, as a bot's token shows them (BOTS.md §1).
BOT_SCOPE = (
    "EditExtensions Glip ReadAccounts SubscriptionPubNub SubscriptionWebSocket "
    "SubscriptionWebhook TeamMessaging"
)

TokenState = Literal["ok", "expired", "unknown", "removed"]


@dataclass
class Session:
    """One login: who, through which app, with which tokens until when."""

    person_id: str
    client_id: str
    access_token: str
    access_expires: float
    refresh_token: str | None
    refresh_expires: float
    endpoint_id: str
    created: float
    static: bool = False
    scope: str = SCOPE

    def token_response(self, now: float) -> dict[str, object]:
        """The token endpoint's JSON answer for this session."""
        out: dict[str, object] = {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": max(0, round(self.access_expires - now)),
            "scope": self.scope,
            "owner_id": self.person_id,
            "endpoint_id": self.endpoint_id,
        }
        if self.refresh_token is not None:
            out["refresh_token"] = self.refresh_token
            out["refresh_token_expires_in"] = max(0, round(self.refresh_expires - now))
        return out


def _new_token(kind: str) -> str:
    # The prefix makes sandbox tokens recognisable in logs; the rest is random.
    return f"SBX{kind}-{secrets.token_urlsafe(32)}"


class TokenTable:
    """Every session of the sandbox, indexed by access and refresh token."""

    def __init__(self, config: SandboxConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._by_access: dict[str, Session] = {}
        self._by_refresh: dict[str, Session] = {}
        self._grace: dict[str, tuple[Session, float]] = {}  # old refresh token -> (session, until)
        self._by_person: dict[str, dict[int, Session]] = {}  # person id -> sessions by id()
        self._removed: dict[str, str] = {}  # access token of a removed extension -> its id

    def reset(self, bot_tokens: dict[str, str], client_id: str) -> None:
        """Forget every session; install the seed's static bot tokens."""
        self._by_access.clear()
        self._by_refresh.clear()
        self._grace.clear()
        self._by_person.clear()
        self._removed.clear()
        for token, person_id in bot_tokens.items():
            self._install_static(token, person_id, client_id)

    def issue(self, person_id: str, client_id: str, access_ttl: int | None = None) -> Session:
        """Open a new session for a successful login."""
        now = self._clock()
        ttl = self._config.token_lifetime
        if access_ttl is not None:
            ttl = max(1, min(access_ttl, ttl))
        session = Session(
            person_id=person_id,
            client_id=client_id,
            access_token=_new_token("A"),
            access_expires=now + ttl,
            refresh_token=_new_token("R"),
            refresh_expires=now + self._config.refresh_token_lifetime,
            endpoint_id=secrets.token_hex(8),
            created=now,
        )
        self._by_access[session.access_token] = session
        assert session.refresh_token is not None
        self._by_refresh[session.refresh_token] = session
        self._by_person.setdefault(person_id, {})[id(session)] = session
        self._enforce_session_limit(person_id, client_id)
        return session

    def issue_static(self, person_id: str, client_id: str) -> str:
        """A never-expiring access token outside the session limit (control ``act``)."""
        token = _new_token("S")
        self._install_static(token, person_id, client_id)
        return token

    def issue_bot(self, person_id: str, client_id: str) -> Session:
        """An installed bot's permanent token: never expires, no refresh token, bot scope."""
        return self._install_static(_new_token("B"), person_id, client_id, BOT_SCOPE)

    def _install_static(
        self, token: str, person_id: str, client_id: str, scope: str = SCOPE
    ) -> Session:
        now = self._clock()
        session = Session(
            person_id=person_id,
            client_id=client_id,
            access_token=token,
            access_expires=now + BOT_TOKEN_EXPIRES_IN,
            refresh_token=None,
            refresh_expires=0.0,
            endpoint_id=secrets.token_hex(8),
            created=now,
            static=True,
            scope=scope,
        )
        self._by_access[token] = session
        self._by_person.setdefault(person_id, {})[id(session)] = session
        return session

    def refresh(self, refresh_token: str, client_id: str) -> Session | None:
        """Rotate the session of ``refresh_token``; None when it cannot be used."""
        now = self._clock()
        graced = self._grace.get(refresh_token)
        if graced is not None:
            session, until = graced
            if now < until and session.client_id == client_id and self._is_live(session):
                return session
            del self._grace[refresh_token]
            return None
        found = self._by_refresh.get(refresh_token)
        if found is None:
            return None
        session = found
        if session.client_id != client_id or now >= session.refresh_expires:
            return None
        self._by_access.pop(session.access_token, None)
        del self._by_refresh[refresh_token]
        self._grace[refresh_token] = (session, now + self._config.refresh_grace)
        session.access_token = _new_token("A")
        session.access_expires = now + self._config.token_lifetime
        session.refresh_token = _new_token("R")
        session.refresh_expires = now + self._config.refresh_token_lifetime
        self._by_access[session.access_token] = session
        self._by_refresh[session.refresh_token] = session
        return session

    def lookup(self, access_token: str) -> tuple[TokenState, Session | None]:
        """Whether an access token is usable, expired, or unknown (revoked, rotated)."""
        session = self._by_access.get(access_token)
        if session is None:
            return ("removed" if access_token in self._removed else "unknown"), None
        if self._clock() >= session.access_expires:
            return "expired", session
        return "ok", session

    def find(self, token: str) -> Session | None:
        """The session of an access or refresh token, live or not."""
        return self._by_access.get(token) or self._by_refresh.get(token)

    def revoke(self, session: Session) -> None:
        """End a session: both its tokens stop working at once."""
        self._by_access.pop(session.access_token, None)
        if session.refresh_token is not None:
            self._by_refresh.pop(session.refresh_token, None)
        self._by_person.get(session.person_id, {}).pop(id(session), None)
        for old, (s, _) in list(self._grace.items()):
            if s is session:
                del self._grace[old]

    def remove_person(self, person_id: str) -> int:
        """A removed extension: end all its sessions; their access tokens now answer
        ``"removed"``. Returns how many sessions ended."""
        ended = list(self._by_person.pop(person_id, {}).values())
        for session in ended:
            self.revoke(session)
            self._removed[session.access_token] = person_id
        return len(ended)

    def expire(self, session: Session) -> None:
        """Make a session's access token expired now (its refresh token still works)."""
        session.access_expires = min(session.access_expires, self._clock())

    def sessions(
        self, *, access_token: str | None = None, person_id: str | None = None
    ) -> list[Session]:
        """Sessions selected by access token, by person, or all when neither is given."""
        if access_token is not None:
            found = self.find(access_token)
            return [found] if found is not None else []
        if person_id is not None:
            return list(self._by_person.get(person_id, {}).values())
        return list({id(s): s for s in self._by_access.values()}.values())

    def _is_live(self, session: Session) -> bool:
        return self._by_access.get(session.access_token) is session

    def _enforce_session_limit(self, person_id: str, client_id: str) -> None:
        limit = self._config.max_sessions
        if limit <= 0:
            return
        mine = sorted(
            (
                s
                for s in self.sessions(person_id=person_id)
                if s.client_id == client_id and not s.static
            ),
            key=lambda s: s.created,
        )
        for old in mine[: max(0, len(mine) - limit)]:
            self.revoke(old)
