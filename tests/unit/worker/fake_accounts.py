"""Installed bots' accounts for the worker's tests: each bot's own persons, chats and tokens.

:class:`Accounts` is what ``Installations`` connects to (its ``connect``):
each installed bot gets a :class:`FakeAccountApi` over its own account,
which answers only the tokens the account accepts, as the platform would
(a refused token goes back to the client's token source once, as
``RestClient`` does on a 401).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from glipbot.errors import UnauthorizedError
from glipbot.platform.rest import TokenSource
from glipbot.testing import FakeDirectory


class FakeAccountApi:
    """One installed bot's REST client: look-ups and posts in its account, with its token."""

    def __init__(self, bot_id: str, account: FakeAccount, tokens: TokenSource) -> None:
        self.bot_id = bot_id
        self.account = account
        self.tokens = tokens

    def get_person(self, person_id: str) -> Mapping[str, Any]:
        self._authorize()
        return self.account.directory.get_person(person_id)

    def get_group(self, group_id: str) -> Mapping[str, Any]:
        self._authorize()
        return self.account.directory.get_group(group_id)

    def create_post(
        self,
        group_id: str,
        text: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        token = self._authorize()
        post = {"id": f"post-{len(self.account.posts) + 1}", "groupId": group_id, "text": text}
        self.account.posts.append({**post, "creatorId": self.bot_id, "token": token})
        return post

    def list_posts(
        self, group_id: str, record_count: int = 30, page_token: str | None = None
    ) -> dict[str, Any]:
        self._authorize()
        return {"records": list(reversed(self.account.posts))[:record_count]}

    def delete_post(self, chat_id: str, post_id: str) -> None:
        self._authorize()

    def _authorize(self) -> str:
        """The token the platform took; a refused one is replaced once, as RestClient does."""
        token = self.tokens.access_token()
        if token in self.account.accepted:
            return token
        fresh = self.tokens.on_unauthorized(token)  # raises when the bot was removed
        if fresh not in self.account.accepted:
            raise UnauthorizedError("401 OAU-232", status=401, error_code="OAU-232")
        return fresh


class FakeAccount:
    """A RingCentral account: its directory, the bot tokens it accepts, the posts made in it."""

    def __init__(self, directory: FakeDirectory, *accepted: str) -> None:
        self.directory = directory
        self.accepted = set(accepted)
        self.posts: list[dict[str, Any]] = []


class Accounts:
    """Every installed bot's account; :meth:`connect` is ``Installations``' ``connect``."""

    def __init__(self, **accounts: FakeAccount) -> None:
        self.accounts = accounts
        #: The bot id of every client built, in order.
        self.connected: list[str] = []

    def connect(self, bot_id: str, tokens: TokenSource) -> Any:
        self.connected.append(bot_id)
        return FakeAccountApi(bot_id, self.accounts[bot_id], tokens)
