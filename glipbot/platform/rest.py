"""The RingCentral REST client: the seven Glip endpoints and subscriptions.

Every method returns the platform's JSON as plain dicts (lists of dicts for
batch reads). Each call takes its token from a :class:`TokenSource` (the
configured bot's: the shared :class:`~glipbot.platform.tokens.TokenStore`);
on a 401 it asks the source for a fresh token once and retries once; a
second 401 escapes as :class:`~glipbot.errors.UnauthorizedError` (an
:class:`~glipbot.errors.AuthError`). Other failures are the errors of
:mod:`glipbot.platform.http`.

One client serves one bot. A client of an installed bot names it
(``bot_id``), and each of its calls tells the transport's hooks, so the rate
limiter counts the call in that bot's buckets; clients of many bots share
one transport (one connection pool, one limiter).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import quote

import requests

from glipbot import log_events as ev
from glipbot.errors import UnauthorizedError
from glipbot.logging import get_logger
from glipbot.platform.endpoints import API, ENDPOINT_GROUPS, MAX_BATCH_IDS
from glipbot.platform.http import HttpTransport, RateLimitInfo, RequestHook
from glipbot.settings import Settings

__all__ = ["API", "ENDPOINT_GROUPS", "RestClient", "TokenSource"]

_log = get_logger(__name__)


class TokenSource(Protocol):
    """Where the client gets its bearer token: a :class:`~glipbot.platform.tokens.TokenStore`,
    or an installed bot's permanent token."""

    def access_token(self) -> str:
        """The token to send now."""
        ...

    def on_unauthorized(self, stale_token: str) -> str:
        """The platform refused ``stale_token``: a token to retry with (or raise a
        :class:`~glipbot.errors.PermanentError` when there is none)."""
        ...


def _ids(ids: Sequence[str]) -> str:
    return ",".join(quote(str(i), safe="~") for i in ids)


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), MAX_BATCH_IDS):
        yield ids[start : start + MAX_BATCH_IDS]


class RestClient:
    """One consistent client of the platform's REST API for one bot."""

    def __init__(
        self,
        settings: Settings,
        tokens: TokenSource,
        session: requests.Session | None = None,
        *,
        transport: HttpTransport | None = None,
        hooks: Sequence[RequestHook] = (),
        bot_id: str | None = None,
    ) -> None:
        """``session`` points the client anywhere (tests); ``hooks`` see every call.

        Pass ``transport`` to share one with :class:`~glipbot.platform.auth.Auth`
        or with other bots' clients. ``bot_id`` names the installed bot this
        client calls for (None: the configured bot), for the hooks.
        """
        self._tokens = tokens
        #: The installed bot this client calls for; None for the configured bot.
        self.bot_id = bot_id
        self.transport = transport or HttpTransport(
            settings.server_url, settings.http_timeout, session, hooks
        )
        if transport is not None:
            self.transport.hooks.extend(hooks)

    @property
    def last_rate_limit(self) -> RateLimitInfo | None:
        """The ``X-Rate-Limit-*`` headers of the last response, success or error."""
        return self.transport.last_rate_limit

    def _call(
        self,
        method: str,
        template: str,
        *,
        path: str | None = None,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        json_body: Any = None,
    ) -> Any:
        group = ENDPOINT_GROUPS[(method, template)]
        target = path or template
        token = self._tokens.access_token()
        try:
            return self._send(method, target, group, token, params, json_body)
        except UnauthorizedError as exc:
            _log.info(
                ev.ACCESS_TOKEN_REFUSED, path=target, error_code=exc.error_code, bot_id=self.bot_id
            )
            fresh = self._tokens.on_unauthorized(token)
        return self._send(method, target, group, fresh, params, json_body)

    def _send(
        self,
        method: str,
        path: str,
        group: str,
        token: str,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None,
        json_body: Any,
    ) -> Any:
        return self.transport.request(
            method,
            path,
            group=group,
            params=params,
            json_body=json_body,
            headers={"Authorization": f"Bearer {token}"},
            bot=self.bot_id,
        )

    # -- subscriptions ---------------------------------------------------------

    def create_subscription(
        self, event_filters: list[str], expires_in: int | None = None
    ) -> dict[str, Any]:
        """Subscribe to ``event_filters`` with encrypted PubNub delivery."""
        body: dict[str, Any] = {
            "eventFilters": list(event_filters),
            "deliveryMode": {"transportType": "PubNub", "encryption": True},
        }
        if expires_in is not None:
            body["expiresIn"] = expires_in
        result: dict[str, Any] = self._call("POST", f"{API}/subscription", json_body=body)
        return result

    def get_subscription(self, subscription_id: str) -> dict[str, Any]:
        """One subscription; :class:`~glipbot.errors.NotFoundError` once it expired."""
        return self._subscription_call("GET", subscription_id)

    def list_subscriptions(self) -> list[dict[str, Any]]:
        """Every subscription of this user and app."""
        answer = self._call("GET", f"{API}/subscription")
        records: list[dict[str, Any]] = answer.get("records", [])
        return records

    def update_subscription(
        self, subscription_id: str, event_filters: list[str], expires_in: int | None = None
    ) -> dict[str, Any]:
        """Replace the event filters (and optionally the lifetime) of a subscription."""
        body: dict[str, Any] = {"eventFilters": list(event_filters)}
        if expires_in is not None:
            body["expiresIn"] = expires_in
        return self._subscription_call("PUT", subscription_id, json_body=body)

    def renew_subscription(self, subscription_id: str) -> dict[str, Any]:
        """Restart the subscription's clock; address and key stay the same."""
        return self._subscription_call("POST", subscription_id, suffix="/renew")

    def delete_subscription(self, subscription_id: str) -> None:
        """Delete a subscription (204)."""
        self._subscription_call("DELETE", subscription_id)

    def _subscription_call(
        self, method: str, subscription_id: str, *, suffix: str = "", json_body: Any = None
    ) -> dict[str, Any]:
        template = f"{API}/subscription/{{subscriptionId}}{suffix}"
        path = f"{API}/subscription/{quote(subscription_id, safe='')}{suffix}"
        result: dict[str, Any] = self._call(method, template, path=path, json_body=json_body)
        return result

    def ws_token(self) -> dict[str, Any]:
        """A single-use WebSocket token: ``{uri, ws_access_token, expires_in}`` (Auth group)."""
        result: dict[str, Any] = self._call("POST", "/restapi/oauth/wstoken", json_body={})
        return result

    # -- posts -----------------------------------------------------------------

    def create_post(
        self,
        group_id: str,
        text: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Post ``text`` and/or ``attachments`` (e.g. Cards) to chat ``group_id``."""
        body: dict[str, Any] = {"groupId": group_id}
        if text is not None:
            body["text"] = text
        if attachments is not None:
            body["attachments"] = attachments
        result: dict[str, Any] = self._call("POST", f"{API}/glip/posts", json_body=body)
        return result

    def list_posts(
        self, group_id: str, record_count: int = 30, page_token: str | None = None
    ) -> dict[str, Any]:
        """One page of a chat's posts, newest first: ``{records, navigation}``."""
        params: dict[str, Any] = {"groupId": group_id, "recordCount": record_count}
        if page_token:
            params["pageToken"] = page_token
        result: dict[str, Any] = self._call("GET", f"{API}/glip/posts", params=params)
        return result

    def delete_post(self, chat_id: str, post_id: str) -> None:
        """Delete one of the bot's posts (204); :class:`~glipbot.errors.NotFoundError` once gone."""
        template = f"{API}/glip/chats/{{chatId}}/posts/{{postId}}"
        path = f"{API}/glip/chats/{quote(chat_id, safe='')}/posts/{quote(post_id, safe='')}"
        self._call("DELETE", template, path=path)

    # -- groups (chats) --------------------------------------------------------

    def create_group(
        self,
        type: str,
        members: list[str],
        name: str | None = None,
        description: str | None = None,
        is_public: bool | None = None,
    ) -> dict[str, Any]:
        """Create a ``PrivateChat`` (exactly two members) or a ``Team``."""
        body: dict[str, Any] = {"type": type, "members": [{"id": m} for m in members]}
        for key, value in (("name", name), ("description", description), ("isPublic", is_public)):
            if value is not None:
                body[key] = value
        result: dict[str, Any] = self._call("POST", f"{API}/glip/groups", json_body=body)
        return result

    def bulk_assign(
        self,
        group_id: str,
        added_person_ids: Sequence[str] = (),
        added_person_emails: Sequence[str] = (),
        removed_person_ids: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Add and remove members of a Team (sent as ``POST``, as every spec has it)."""
        body: dict[str, Any] = {}
        for key, values in (
            ("addedPersonIds", added_person_ids),
            ("addedPersonEmails", added_person_emails),
            ("removedPersonIds", removed_person_ids),
        ):
            if values:
                body[key] = list(values)
        template = f"{API}/glip/groups/{{groupId}}/bulk-assign"
        path = f"{API}/glip/groups/{quote(group_id, safe='')}/bulk-assign"
        result: dict[str, Any] = self._call("POST", template, path=path, json_body=body)
        return result

    def list_groups(
        self,
        types: Sequence[str] = (),
        record_count: int | None = None,
        page_token: str | None = None,
    ) -> dict[str, Any]:
        """One page of the bot's chats, optionally of some ``types``: ``{records, navigation}``."""
        params: list[tuple[str, Any]] = [("type", t) for t in types]
        if record_count is not None:
            params.append(("recordCount", record_count))
        if page_token:
            params.append(("pageToken", page_token))
        result: dict[str, Any] = self._call("GET", f"{API}/glip/groups", params=params)
        return result

    def iter_groups(self, types: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
        """Every chat of the bot, page after page."""
        page_token: str | None = None
        while True:
            page = self.list_groups(types, page_token=page_token)
            yield from page.get("records", [])
            page_token = (page.get("navigation") or {}).get("nextPageToken")
            if not page_token:
                return

    def get_group(self, group_id: str) -> dict[str, Any]:
        """One chat."""
        return self._get_one("groups", "groupId", group_id)

    def get_groups(self, group_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Several chats, in the order asked (a 207 batch per 30 ids).

        An id the platform could not return yields its error body (with ``errorCode``).
        """
        return self._get_many("groups", "groupId", group_ids)

    # -- persons ---------------------------------------------------------------

    def get_person(self, person_id: str) -> dict[str, Any]:
        """One person; ``~`` is the bot itself."""
        return self._get_one("persons", "personId", person_id)

    def get_persons(self, person_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Several persons, in the order asked (a 207 batch per 30 ids).

        An id the platform could not return yields its error body (with ``errorCode``).
        """
        return self._get_many("persons", "personId", person_ids)

    def _get_one(self, kind: str, param: str, item_id: str) -> dict[str, Any]:
        template = f"{API}/glip/{kind}/{{{param}}}"
        result: dict[str, Any] = self._call(
            "GET", template, path=f"{API}/glip/{kind}/{_ids([item_id])}"
        )
        return result

    def _get_many(self, kind: str, param: str, item_ids: Sequence[str]) -> list[dict[str, Any]]:
        template = f"{API}/glip/{kind}/{{{param}}}"
        found: list[dict[str, Any]] = []
        for chunk in _chunks(list(item_ids)):
            answer = self._call("GET", template, path=f"{API}/glip/{kind}/{_ids(chunk)}")
            # One id (or the same id twice) answers 200 with a single object.
            found.extend(answer if isinstance(answer, list) else [answer])
        return found
