"""Installations: each bot extension this deployment serves, with its token, in Redis.

An installation is one bot extension in one RingCentral account (BOTS.md,
sections 1 to 4): the configured bot (the ``RINGCENTRAL_*`` settings, whose
token the token store keeps) and every bot installed through ``/bot/oauth``
(a private or public install, each with its own permanent token). They live
in one Redis hash, ``installations``, keyed by the bot extension id, which
is also every notification's ``ownerId``; ``installations:version`` counts
changes so a process notices one with a single ``GET``. Installing again
replaces the token, never adds a second record. Removing keeps the record
(state ``removed``, token dropped) so its dead letters keep a name.

Tokens are secrets: :meth:`Installation.public` is what ops show.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import redis

from glipbot.state.keys import Keys

Kind = Literal["configured", "private", "public"]
State = Literal["active", "removed"]
KINDS: tuple[Kind, ...] = ("configured", "private", "public")
ACTIVE: State = "active"
REMOVED: State = "removed"


@dataclass(frozen=True)
class Installation:
    """One bot extension served by this deployment."""

    bot_id: str
    account_id: str
    kind: Kind
    installed_at: float
    #: The bot's permanent access token; None for the configured bot and once removed.
    token: str | None = field(default=None, repr=False)
    state: State = ACTIVE
    creator_extension_id: str | None = None
    removed_at: float | None = None
    removed_reason: str | None = None

    @property
    def active(self) -> bool:
        """Whether its events are received and answered."""
        return self.state == ACTIVE

    def public(self) -> dict[str, Any]:
        """Everything but the token, for ops and logs."""
        data = asdict(self)
        data.pop("token")
        data["has_token"] = self.token is not None
        return data

    def to_json(self) -> str:
        """The stored form (with the token)."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Installation:
        """Read the stored form; ``ValueError``/``KeyError``/``TypeError`` when unusable."""
        data = json.loads(raw)
        kind, state = data["kind"], data.get("state", ACTIVE)
        if kind not in KINDS or state not in (ACTIVE, REMOVED):
            raise ValueError(f"unknown kind or state: {kind!r}, {state!r}")
        return cls(
            bot_id=str(data["bot_id"]),
            account_id=str(data["account_id"]),
            kind=kind,
            installed_at=float(data["installed_at"]),
            token=data.get("token"),
            state=state,
            creator_extension_id=data.get("creator_extension_id"),
            removed_at=data.get("removed_at"),
            removed_reason=data.get("removed_reason"),
        )


class InstallationStore:
    """The ``installations`` hash (synchronous client; ``str`` or ``bytes`` replies)."""

    def __init__(
        self, client: redis.Redis, keys: Keys, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = client
        self._key = keys.installations
        self._version = keys.installations_version
        self._clock = clock

    def put(self, installation: Installation) -> bool:
        """Store ``installation`` (replacing the same bot's record); True if it is new."""
        with self._redis.pipeline() as pipe:
            pipe.hset(self._key, installation.bot_id, installation.to_json())
            pipe.incr(self._version)
            added, _ = pipe.execute()
        return bool(added)

    def get(self, bot_id: str) -> Installation | None:
        """The installation of ``bot_id``, or None."""
        raw = self._redis.hget(self._key, bot_id)
        return None if raw is None else Installation.from_json(raw)

    def all(self) -> list[Installation]:
        """Every installation, active or removed, oldest first."""
        records = [Installation.from_json(raw) for raw in self._redis.hvals(self._key)]
        return sorted(records, key=lambda i: (i.installed_at, i.bot_id))

    def active(self) -> list[Installation]:
        """The installations whose events are received and answered."""
        return [i for i in self.all() if i.active]

    def remove(self, bot_id: str, reason: str) -> Installation | None:
        """Mark ``bot_id`` removed and forget its token; the record, or None if unknown."""
        current = self.get(bot_id)
        if current is None:
            return None
        removed = replace(
            current, state=REMOVED, token=None, removed_at=self._clock(), removed_reason=reason
        )
        self.put(removed)
        return removed

    def ensure_configured(
        self, bot_id: str, account_id: str
    ) -> tuple[Installation, bool, list[str]]:
        """Make ``bot_id`` the one active ``configured`` installation (the ``RINGCENTRAL_*`` bot).

        Its token stays with the token store (``token=None`` here). Nothing is
        written when the record is already so (``installations:version`` moves
        only on a change); another bot recorded as configured before (the
        settings changed) is removed. Returns the record, whether it changed,
        and the bot ids removed.
        """
        current = self.get(bot_id)
        was_configured = current is not None and current.kind == "configured" and current.active
        if current is not None and was_configured and current.account_id == account_id:
            installation, changed = current, False
        else:
            since = current.installed_at if current is not None and was_configured else None
            at = self._clock() if since is None else since
            installation = Installation(bot_id, account_id, "configured", at, token=None)
            self.put(installation)
            changed = True
        retired = []
        for other in self.active():
            if other.kind == "configured" and other.bot_id != bot_id:
                self.remove(other.bot_id, "no longer the configured bot")
                retired.append(other.bot_id)
        return installation, changed, retired

    def version(self) -> int:
        """A number that changes whenever an installation does."""
        raw = self._redis.get(self._version)
        return int(raw) if raw else 0
