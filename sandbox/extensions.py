"""``GET /restapi/v1.0/account/{accountId}/extension/{extensionId}`` (readExtension, Light).

A bot finds its own id and account with ``GET /restapi/v1.0/account/~/extension/~``
(BOTS.md §2, §4); frameworks call it periodically, and a removed bot's token
answers 401 ``OAU-232`` "Extension not found" (or ``CMN-405``, see
:mod:`sandbox.oauth`). The answer follows the spec's ``GetExtensionInfoResponse``:
``id`` is an **integer** there (every other id of the sandbox is a string),
``account.id`` a string, ``type`` ``Bot`` for a bot extension and ``User`` for
a person.

Only the caller's own extension can be read: ``~`` or the caller's own ids.
Any other account or extension answers 403 ``CMN-404`` "Attempt to access
another extension" (api-docs' errors.md), whether it exists or not.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox.accounts import Account
from sandbox.errors import api_error
from sandbox.oauth import OAuth
from sandbox.seed import SeedPerson
from sandbox.store import Store

PATH = "/restapi/v1.0/account/{accountId}/extension/{extensionId}"


def extension_json(person: SeedPerson, account: Account, origin: str) -> dict[str, Any]:
    """The spec's extension info of a person (``type`` ``Bot`` or ``User``)."""
    account_uri = f"{origin}/restapi/v1.0/account/{account.id}"
    contact: dict[str, Any] = {
        "firstName": person.first_name,
        "lastName": person.last_name,
        "email": person.email,
    }
    if account.name:
        contact["company"] = account.name
    if person.phone_number:
        contact["businessPhone"] = person.phone_number
    out: dict[str, Any] = {
        "uri": f"{account_uri}/extension/{person.id}",
        "id": int(person.id),
        "extensionNumber": person.extension_number,
        "contact": contact,
        "name": f"{person.first_name} {person.last_name}".strip(),
        "type": "Bot" if person.bot else "User",
        "status": "Enabled",
        "account": {"uri": account_uri, "id": account.id},
        "setupWizardState": "Completed",
    }
    if not person.extension_number:
        del out["extensionNumber"]
    return out


class ExtensionEndpoints:
    """The handler of readExtension for the caller's own extension."""

    def __init__(self, store: Store, oauth: OAuth) -> None:
        self._store = store
        self._oauth = oauth

    def routes(self) -> list[web.RouteDef]:
        """The aiohttp route."""
        return [web.get(PATH, self.read)]

    async def read(self, request: web.Request) -> web.Response:
        """The caller's extension (``~`` or its own ids in the path)."""
        who = self._oauth.authenticate(request)
        person = self._store.person(who.person_id)
        account = None if person is None else self._store.directory.account(person.account_id)
        if person is None or account is None:  # a login of someone removed since
            raise api_error(401, "OAU-232", "Extension not found")
        if request.match_info["accountId"] not in ("~", account.id) or request.match_info[
            "extensionId"
        ] not in ("~", person.id):
            raise api_error(403, "CMN-404", "Attempt to access another extension")
        return web.json_response(extension_json(person, account, str(request.url.origin())))
