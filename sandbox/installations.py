"""Installing and removing the sandbox app's bot in accounts, as RingCentral does (BOTS.md).

An installation makes a new account (or uses an existing one that has no
bot) with a bot extension (type ``Bot``) and people, then calls the app's
redirect URI in the background (:mod:`sandbox.redirects`):

- **private**: ``POST redirect_uri`` with ``{"access_token", "creator_extension_id",
  "creator_account_id", "client_id"}`` (JSON, or form-encoded on request): the
  bot's permanent token (no expiry, no refresh token);
- **public**: ``GET redirect_uri?code=…&creator_extension_id=…``; the code is
  exchanged once at the token endpoint (:mod:`sandbox.auth_codes`).

The creator is the account's first person. For ``notReadySeconds`` after the
install the bot's subscription creation answers 403 ``SUB-406``, as a real
new bot user does (BOTS.md §6).

Uninstalling sends ``Delete`` to the bot's subscriptions of
``/restapi/v1.0/account/~/extension/~`` (PubNub and WebSocket alike), then
deletes all its subscriptions, ends its sessions (its tokens answer 401
``OAU-232``, or ``CMN-405``) and removes the extension. The account, its
people, chats and posts stay. Every operation costs the same however many
installations exist.

Installation ``state``: ``pending`` until the redirect call has finished,
then ``installed`` (the redirect URI answered 2xx) or ``failed`` (it did not:
the bot still exists, the app just never got its token, as when RingCentral's
call fails), and ``uninstalled`` once removed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol

from yarl import URL

from sandbox.accounts import Account
from sandbox.auth_codes import AuthCodeTable
from sandbox.clock import Clock, iso
from sandbox.config import SandboxConfig
from sandbox.installation_settings import InstallationSettings
from sandbox.notifications import Notifier
from sandbox.redirects import RedirectCall, RedirectCaller
from sandbox.seed import SeedPerson
from sandbox.store import Store
from sandbox.subscriptions import WEBSOCKET, Subscription, SubscriptionTable
from sandbox.tokens import TokenTable

PRIVATE, PUBLIC = "private", "public"
KINDS = (PRIVATE, PUBLIC)
PENDING, INSTALLED, FAILED, UNINSTALLED = "pending", "installed", "failed", "uninstalled"
#: The kind shown for the seed's own bot when it is uninstalled (it has no installation).
SEED = "seed"


class Sockets(Protocol):
    """What uninstalling needs of the WebSocket gateway."""

    def detach(self, subscription: Subscription) -> None:
        """A WebSocket subscription was deleted."""
        ...


@dataclass
class Installation:
    """One installation of the bot in one account."""

    bot_id: str
    account_id: str
    kind: str
    redirect_uri: str
    creator_id: str
    people: list[SeedPerson] = field(repr=False)
    created_at: float
    ready_at: float
    redirect: RedirectCall
    state: str = PENDING
    uninstalled_at: float | None = None

    def to_json(self, now: float) -> dict[str, Any]:
        """The control API's view (no secrets)."""
        return {
            "account_id": self.account_id,
            "bot_id": self.bot_id,
            "kind": self.kind,
            "state": self.state,
            "redirect_uri": self.redirect_uri,
            "creator_extension_id": self.creator_id,
            "created_at": iso(self.created_at),
            "ready": now >= self.ready_at,
            "ready_at": iso(self.ready_at),
            "uninstalled_at": None if self.uninstalled_at is None else iso(self.uninstalled_at),
            "redirect": self.redirect.to_json(),
        }

    def answer(self) -> dict[str, Any]:
        """What the install call answers: the ids, and the people with their logins."""
        return {
            "account_id": self.account_id,
            "bot_id": self.bot_id,
            "kind": self.kind,
            "creator_extension_id": self.creator_id,
            "people": [
                {"id": p.id, "username": p.email, "password": p.password} for p in self.people
            ],
        }


class InstallError(ValueError):
    """An installation request the sandbox cannot serve (the control API answers 400)."""

    def __init__(self, parameter: str, why: str) -> None:
        super().__init__(f"{parameter}: {why}")
        self.parameter = parameter
        self.why = why


class Installations:
    """Every installation, the codes of public ones, and the redirect calls in flight."""

    def __init__(
        self,
        config: SandboxConfig,
        store: Store,
        tokens: TokenTable,
        subscriptions: SubscriptionTable,
        notifier: Notifier,
        sockets: Sockets | None,
        clock: Clock,
    ) -> None:
        self._config = config
        self._store = store
        self._tokens = tokens
        self._subscriptions = subscriptions
        self._notifier = notifier
        self._sockets = sockets
        self._clock = clock
        self.codes = AuthCodeTable(clock)
        self.redirects = RedirectCaller(clock)
        self.settings = InstallationSettings.from_config(config)
        self._by_bot: dict[str, Installation] = {}

    def reset(self) -> None:
        """No installations, codes or calls in flight; the command line's settings."""
        self.redirects.cancel_all()
        self.codes.reset()
        self._by_bot.clear()
        self.settings = InstallationSettings.from_config(self._config)

    def configure(self, fields: dict[str, Any]) -> InstallationSettings:
        """Change settings (400 ``CMN-101`` for a wrong key or value)."""
        self.settings = self.settings.updated(fields)
        return self.settings

    # queries

    def all(self) -> list[Installation]:
        """Every installation since the last reset, oldest first (uninstalled ones too)."""
        return list(self._by_bot.values())

    def get(self, bot_id: str) -> Installation | None:
        """The installation of a bot, or None."""
        return self._by_bot.get(bot_id)

    def not_ready(self, person_id: str) -> bool:
        """Whether ``person_id`` is a bot installed too recently to subscribe (SUB-406)."""
        found = self._by_bot.get(person_id)
        return found is not None and found.state != UNINSTALLED and self._clock() < found.ready_at

    # installing

    def install(
        self,
        kind: str,
        redirect_uri: str,
        people: int,
        account_id: str | None = None,
        encoding: str = "json",
    ) -> Installation:
        """Create the account (unless given), its bot and people; the redirect call is
        prepared, and made by :meth:`call_redirect`."""
        directory = self._store.directory
        if account_id is None:
            if people < 1:
                raise InstallError("people", "a new account needs at least one person")
            new_id = directory.new_account_id()
            account = directory.add_account(Account(new_id, f"Sandbox Account {new_id}"))
        else:
            found = directory.account(account_id)
            if found is None:
                raise InstallError("account_id", f"unknown account {account_id}")
            members = list(directory.members(found.id))
            if any(p.bot for p in members):
                raise InstallError("account_id", f"account {account_id} already has a bot")
            if people < 1 and all(p.bot for p in members):
                raise InstallError("people", f"account {account_id} has nobody to install the bot")
            account = found
        bot = self._add_person(account, bot=True)
        for _ in range(people):
            self._add_person(account, bot=False)
        humans = [p for p in directory.members(account.id) if not p.bot]
        now = self._clock()
        client_id = self._store.seed.client_id
        creator = humans[0]
        if kind == PRIVATE:
            token = self._tokens.issue_bot(bot.id, client_id).access_token
            payload = {
                "access_token": token,
                "creator_extension_id": creator.id,
                "creator_account_id": account.id,
                "client_id": client_id,
            }
            call = RedirectCall("POST", redirect_uri)
            if encoding == "form":
                call.form = payload
            else:
                call.json = payload
        else:
            code = self.codes.issue(
                bot.id, client_id, redirect_uri, self.settings.auth_code_lifetime
            )
            url = URL(redirect_uri).update_query(code=code.value, creator_extension_id=creator.id)
            call = RedirectCall("GET", str(url))
        installation = Installation(
            bot_id=bot.id,
            account_id=account.id,
            kind=kind,
            redirect_uri=redirect_uri,
            creator_id=creator.id,
            people=humans,
            created_at=now,
            ready_at=now + self.settings.not_ready_seconds,
            redirect=call,
        )
        self._by_bot[bot.id] = installation
        return installation

    def call_redirect(self, installation: Installation) -> None:
        """Call the redirect URI of a new installation in the background (once)."""

        def finished(call: RedirectCall) -> None:
            if installation.state == PENDING:
                installation.state = INSTALLED if call.ok else FAILED

        self.redirects.start(installation.redirect, self.settings.redirect_timeout, finished)

    def _add_person(self, account: Account, *, bot: bool) -> SeedPerson:
        directory = self._store.directory
        number = account.next_extension
        account.next_extension += 1
        domain = f"acc{account.id}.sandbox.test"
        if bot:
            model = next((p for p in self._store.seed.persons if p.bot), None)
            first, last = (model.first_name, model.last_name) if model else ("Sandbox", "Bot")
            email, password = f"bot@{domain}", ""  # a bot extension cannot log in
        else:
            index = sum(1 for p in directory.members(account.id) if not p.bot) + 1
            first, last = f"User{index}", f"Account{account.id}"
            email, password = f"user{index}@{domain}", secrets.token_urlsafe(9)
        person = SeedPerson(
            id=directory.new_person_id(),
            first_name=first,
            last_name=last,
            email=email,
            password=password,
            extension_number=str(number),
            bot=bot,
            account_id=account.id,
        )
        return self._store.add_person(person)

    # removing

    def uninstall(self, bot_id: str) -> dict[str, Any] | None:
        """Remove a bot (an installed one, or the seed's); what was done, or None if there is
        no such bot."""
        bot = self._store.person(bot_id)
        if bot is None or not bot.bot:
            return None
        notified = self._notifier.extension_deleted(bot_id)
        deleted = self._subscriptions.remove_owner(bot_id)
        for sub in deleted:
            if sub.transport == WEBSOCKET and self._sockets is not None:
                self._sockets.detach(sub)
        revoked = self._tokens.remove_person(bot_id)
        self._store.remove_person(bot_id)
        installation = self._by_bot.get(bot_id)
        now = self._clock()
        if installation is not None:
            installation.state = UNINSTALLED
            installation.uninstalled_at = now
        return {
            "bot_id": bot_id,
            "account_id": bot.account_id,
            "kind": SEED if installation is None else installation.kind,
            "state": UNINSTALLED,
            "delete_notifications": notified,
            "subscriptions_deleted": len(deleted),
            "tokens_revoked": revoked,
        }
