"""The seven Glip endpoints, each acting as the person who owns the bearer token.

Visibility rule (the spec leaves it open): a chat is visible only to its
members. Reading, posting in, or editing a chat you are not in answers 404
``CMN-102`` (``groupId``), exactly as an unknown id, so ids do not leak.
``bulk-assign`` on a chat that is not a Team answers 403. Reading, editing and
deleting one post are in :mod:`sandbox.posts`.

Accounts are isolated (:mod:`sandbox.accounts`): chats hold people of one
account only, so a person sees only their own account's chats and posts.
Reading a person of another account answers 403 ``CMN-403`` (the spec's "You
do not have permissions to get such kind of information"); a chat created
with, or a Team given, a person of another account answers 403 ``CMN-403``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aiohttp import web

from sandbox.batch import multipart_response
from sandbox.errors import ApiError, forbidden, invalid, missing, not_found, read_json_object
from sandbox.notifications import Notifier
from sandbox.oauth import Identity, OAuth
from sandbox.store import GROUP_TYPES, Group, Post, Store

PREFIX = "/restapi/v1.0/glip"
MAX_TEXT = 10000
MAX_ATTACHMENTS = 20
MAX_IDS = 30
DEFAULT_RECORD_COUNT = 30
MAX_RECORD_COUNT = 250
ATTACHMENT_TYPES = ("Card", "Event", "Note")
_POST_EXTRAS = ("activity", "title", "iconUri", "iconEmoji")

T = TypeVar("T", Group, Post)


class GlipEndpoints:
    """Handlers for persons, groups and posts."""

    def __init__(self, store: Store, oauth: OAuth, notifier: Notifier) -> None:
        self._store = store
        self._oauth = oauth
        self._notifier = notifier

    def routes(self) -> list[web.RouteDef]:
        """The aiohttp routes (bulk-assign answers POST and PUT)."""
        return [
            web.post(PREFIX + "/posts", self.create_post),
            web.get(PREFIX + "/posts", self.list_posts),
            web.post(PREFIX + "/groups", self.create_group),
            web.get(PREFIX + "/groups", self.list_groups),
            web.get(PREFIX + "/groups/{ids}", self.read_groups),
            web.post(PREFIX + "/groups/{id}/bulk-assign", self.bulk_assign),
            web.put(PREFIX + "/groups/{id}/bulk-assign", self.bulk_assign),
            web.get(PREFIX + "/persons/{ids}", self.read_persons),
        ]

    # posts

    async def create_post(self, request: web.Request) -> web.Response:
        """``POST /glip/posts``: post as the caller; PostAdded to every subscribed member."""
        who = self._oauth.authenticate(request)
        body = await read_json_object(request)
        group = self._group(id_field(body, "groupId"), who)
        text = post_text(body.get("text", ""), has_attachments=bool(body.get("attachments")))
        attachments = _attachments(body.get("attachments"))
        extras = {k: body[k] for k in _POST_EXTRAS if isinstance(body.get(k), str)}
        post = add_post(
            self._store, self._notifier, group, who.person_id, text, attachments, extras
        )
        return web.json_response(post.to_json())

    async def list_posts(self, request: web.Request) -> web.Response:
        """``GET /glip/posts?groupId=``: newest first, paged."""
        who = self._oauth.authenticate(request)
        group_id = request.query.get("groupId", "")
        if not group_id:
            raise missing("groupId")
        group = self._group(group_id, who)
        page, navigation = _paginate(
            self._store.posts_of(group), request.query.get("pageToken"), _record_count(request)
        )
        return web.json_response({"records": [p.to_json() for p in page], "navigation": navigation})

    # groups

    async def create_group(self, request: web.Request) -> web.Response:
        """``POST /glip/groups``: a PrivateChat (returns the existing one) or a Team."""
        who = self._oauth.authenticate(request)
        body = await read_json_object(request)
        kind = body.get("type")
        if kind is None:
            raise missing("type")
        if kind not in ("PrivateChat", "Team"):
            raise invalid("type", "PrivateChat or Team")
        members = self._members(body.get("members", []), "members")
        self._same_account(who, members)
        others = [m for m in members if m != who.person_id]
        if kind == "PrivateChat":
            if len(set(others)) != 1:
                raise invalid("members", "a PrivateChat has exactly one other member")
            existing = self._store.find_private_chat(who.person_id, others[0])
            if existing is not None:
                return web.json_response(existing.to_json())
        name, description = body.get("name", ""), body.get("description", "")
        is_public = body.get("isPublic", False)
        if not isinstance(name, str) or not isinstance(description, str):
            raise invalid("name" if not isinstance(name, str) else "description", "a string")
        if not isinstance(is_public, bool):
            raise invalid("isPublic", "a boolean")
        group = self._store.create_group(
            kind,
            [who.person_id, *others],
            name=name if kind == "Team" else "",
            description=description if kind == "Team" else "",
            is_public=is_public if kind == "Team" else False,
        )
        for person in group.members:
            self._notifier.group_event("GroupJoined", group, [person])
        return web.json_response(group.to_json())

    async def list_groups(self, request: web.Request) -> web.Response:
        """``GET /glip/groups``: the caller's chats, newest first, ``type`` may repeat."""
        who = self._oauth.authenticate(request)
        types = {t for raw in request.query.getall("type", []) for t in raw.split(",") if t}
        unknown = types - set(GROUP_TYPES)
        if unknown:
            raise invalid("type", f"one of {', '.join(GROUP_TYPES)}")
        page, navigation = _paginate(
            self._store.groups_of(who.person_id, types),
            request.query.get("pageToken"),
            _record_count(request),
        )
        return web.json_response({"records": [g.to_json() for g in page], "navigation": navigation})

    async def read_groups(self, request: web.Request) -> web.Response:
        """``GET /glip/groups/{ids}``: one Group, or 207 for several ids."""
        who = self._oauth.authenticate(request)
        return _one_or_batch(
            _split_ids(request.match_info["ids"], "groupId"),
            lambda gid: self._group(gid, who).to_json(),
        )

    async def bulk_assign(self, request: web.Request) -> web.Response:
        """``POST|PUT /glip/groups/{id}/bulk-assign``: Teams only; Joined/Left to each person."""
        who = self._oauth.authenticate(request)
        group = self._group(request.match_info["id"], who)
        body = await read_json_object(request)
        keys = ("addedPersonIds", "addedPersonEmails", "removedPersonIds")
        if not any(k in body for k in keys):
            raise missing("addedPersonIds")
        added = self._members(body.get("addedPersonIds", []), "addedPersonIds")
        added += self._members(body.get("addedPersonEmails", []), "addedPersonEmails")
        removed = self._members(body.get("removedPersonIds", []), "removedPersonIds")
        if group.type != "Team":
            raise forbidden("Members can be assigned to a Team only")
        self._same_account(who, added)
        joined, left = self._store.change_members(group, added, removed)
        for person in joined:
            self._notifier.group_event("GroupJoined", group, [person])
        for person in left:
            self._notifier.group_event("GroupLeft", group, [person])
        return web.json_response(group.to_json())

    # persons

    async def read_persons(self, request: web.Request) -> web.Response:
        """``GET /glip/persons/{ids}``: ``~`` is the caller; 207 for several ids."""
        who = self._oauth.authenticate(request)

        def one(pid: str) -> dict[str, Any]:
            person = self._store.person(who.person_id if pid == "~" else pid)
            if person is None:
                raise not_found("personId")
            if not self._store.directory.same_account(who.person_id, person.id):
                raise forbidden("You do not have permissions to get such kind of information")
            return self._store.person_json(person)

        return _one_or_batch(_split_ids(request.match_info["ids"], "personId"), one)

    # helpers

    def _group(self, group_id: str, who: Identity) -> Group:
        group = self._store.visible_group(group_id, who.person_id)
        if group is None:
            raise not_found("groupId")
        return group

    def _same_account(self, who: Identity, person_ids: list[str]) -> None:
        """403 when any of ``person_ids`` belongs to another account than the caller."""
        directory = self._store.directory
        foreign = [p for p in person_ids if not directory.same_account(who.person_id, p)]
        if foreign:
            raise forbidden(
                "Persons of another account cannot be members of your chats: "
                + ", ".join(dict.fromkeys(foreign))
            )

    def _members(self, raw: object, field: str) -> list[str]:
        """Person ids from ids, emails, or ``{id}``/``{email}`` objects."""
        if not isinstance(raw, list):
            raise invalid(field, "a list")
        ids = []
        for item in raw:
            ref = (item.get("id") or item.get("email")) if isinstance(item, dict) else item
            if isinstance(ref, int) and not isinstance(ref, bool):
                ref = str(ref)
            if not isinstance(ref, str) or not ref:
                raise invalid(field, "person ids or emails")
            person = self._store.person_by_email(ref) if "@" in ref else self._store.person(ref)
            if person is None:
                raise invalid(field, f"unknown person {ref}")
            ids.append(person.id)
        return ids


def add_post(
    store: Store,
    notifier: Notifier,
    group: Group,
    creator: str,
    text: str,
    attachments: list[dict[str, Any]] | None = None,
    extras: dict[str, str] | None = None,
) -> Post:
    """What createPost does once the request is validated: store the post, then send
    PostAdded to every subscribed member of the chat (PubNub and WebSocket alike)."""
    post = store.add_post(group, creator, text, attachments or [], extras or {})
    notifier.post_event("PostAdded", post, group)
    return post


def post_text(value: object, *, has_attachments: bool) -> str:
    """A post's text as sent: a string of at most :data:`MAX_TEXT` characters, empty
    only when the post has attachments (400 ``CMN-101``/``CMN-100`` otherwise)."""
    if not isinstance(value, str):
        raise invalid("text", "a string")
    if len(value) > MAX_TEXT:
        raise invalid("text", f"at most {MAX_TEXT} characters")
    if not value and not has_attachments:
        raise missing("text")
    return value


def id_field(body: dict[str, Any], field: str) -> str:
    """A body's id field as a string (a number is accepted); 400 when missing or not an id."""
    value = body.get(field)
    if value is None or value == "":
        raise missing(field)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise invalid(field, "a string id")
    return value


def _attachments(raw: object) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(a, dict) for a in raw):
        raise invalid("attachments", "a list of objects")
    if len(raw) > MAX_ATTACHMENTS:
        raise invalid("attachments", f"at most {MAX_ATTACHMENTS}")
    out = []
    for item in raw:
        attachment = {"type": "Card", **item}
        if attachment["type"] not in ATTACHMENT_TYPES:
            raise invalid("attachments.type", f"one of {', '.join(ATTACHMENT_TYPES)}")
        fields = attachment.get("fields", [])
        if not isinstance(fields, list) or not all(isinstance(f, dict) for f in fields):
            raise invalid("attachments.fields", "a list of objects")
        for key in ("author", "footnote"):
            if key in attachment and not isinstance(attachment[key], dict):
                raise invalid(f"attachments.{key}", "an object")
        out.append(attachment)
    return out


def _record_count(request: web.Request) -> int:
    raw = request.query.get("recordCount")
    if raw is None:
        return DEFAULT_RECORD_COUNT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_RECORD_COUNT:
        raise invalid("recordCount", f"an integer from 1 to {MAX_RECORD_COUNT}")
    return int(raw)


def _split_ids(raw: str, field: str) -> list[str]:
    ids = [i.strip() for i in raw.split(",")]
    if not all(ids):
        raise invalid(field, "comma-separated ids")
    if len(ids) > MAX_IDS:
        raise invalid(field, f"at most {MAX_IDS} ids")
    return ids


def _one_or_batch(ids: list[str], one: Callable[[str], dict[str, Any]]) -> web.Response:
    if len(ids) == 1:
        return web.json_response(one(ids[0]))
    parts: list[tuple[int, dict[str, Any]]] = []
    for item in ids:
        try:
            parts.append((200, one(item)))
        except ApiError as exc:
            parts.append((exc.status, exc.body))
    return multipart_response(parts)


def _encode_token(kind: str, anchor: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([kind, anchor]).encode()).decode().rstrip("=")


def _decode_token(token: str) -> tuple[str, int]:
    try:
        kind, anchor = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if kind in ("next", "prev"):
            return kind, int(anchor)
    except (ValueError, TypeError, binascii.Error):
        pass
    raise invalid("pageToken")


def _paginate(items: Sequence[T], token: str | None, count: int) -> tuple[list[T], dict[str, str]]:
    """A page of ``items`` (newest first, numeric ids) and its navigation tokens."""
    if token:
        kind, anchor = _decode_token(token)
        if kind == "next":
            page = [i for i in items if int(i.id) < anchor][:count]
        else:
            page = [i for i in items if int(i.id) > anchor][-count:]
    else:
        page = list(items[:count])
    navigation: dict[str, str] = {}
    if page:
        if any(int(i.id) < int(page[-1].id) for i in items):
            navigation["nextPageToken"] = _encode_token("next", page[-1].id)
        if any(int(i.id) > int(page[0].id) for i in items):
            navigation["prevPageToken"] = _encode_token("prev", page[0].id)
    return page, navigation
