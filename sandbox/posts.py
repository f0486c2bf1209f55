"""Reading, editing and deleting one post, each acting as the person who owns the token.

- ``PUT /glip/groups/{groupId}/posts/{postId}/text`` (updateGlipPostText, deprecated):
  the body is the new text (``text/*``; JSON ``"text"`` or ``{"text"}`` is accepted too);
  the answer is the new text, ``text/plain`` unless the client asks for JSON only.
- ``GET|PATCH|DELETE /glip/chats/{chatId}/posts/{postId}`` (readGlipPost,
  patchGlipPost, deleteGlipPost): the Post, the edited Post, 204.

Visibility as in :mod:`sandbox.glip`: a chat you are not in is 404 ``CMN-102``
on the path's chat parameter, like an unknown one; an unknown post (or one of
another chat) is 404 on ``postId``. Only a post's creator may edit or delete it
(403 ``CMN-403``); that is checked before the body. Edits parse mentions again,
set ``lastModifiedTime`` and send ``PostChanged`` (the Post); a deletion sends
``PostRemoved`` (``{id, groupId}``), both to every subscribed member of the chat.
"""

from __future__ import annotations

import json

from aiohttp import web

from sandbox.errors import api_error, forbidden, invalid, missing, not_found, read_json_object
from sandbox.glip import PREFIX, post_text
from sandbox.notifications import Notifier
from sandbox.oauth import Identity, OAuth
from sandbox.store import Group, Post, Store

CHAT_POST = PREFIX + "/chats/{chatId}/posts/{postId}"
POST_TEXT = PREFIX + "/groups/{groupId}/posts/{postId}/text"
_JSON_TYPES = ("application/json", "text/json")


class PostEndpoints:
    """Handlers for one post: read, edit (two ways), delete."""

    def __init__(self, store: Store, oauth: OAuth, notifier: Notifier) -> None:
        self._store = store
        self._oauth = oauth
        self._notifier = notifier

    def routes(self) -> list[web.RouteDef]:
        """The aiohttp routes."""
        return [
            web.put(POST_TEXT, self.update_text),
            web.get(CHAT_POST, self.read_post),
            web.patch(CHAT_POST, self.patch_post),
            web.delete(CHAT_POST, self.delete_post),
        ]

    async def update_text(self, request: web.Request) -> web.Response:
        """``PUT .../groups/{groupId}/posts/{postId}/text``: answers the new text."""
        group, post = self._own_post(request, "groupId")
        text = await _text_body(request, has_attachments=bool(post.attachments))
        self._edit(group, post, text)
        if _wants_json_only(request):
            return web.json_response(post.text)
        return web.Response(text=post.text, content_type="text/plain")

    async def read_post(self, request: web.Request) -> web.Response:
        """``GET .../chats/{chatId}/posts/{postId}``: the Post (any member may read it)."""
        _, post = self._post(request, "chatId")
        return web.json_response(post.to_json())

    async def patch_post(self, request: web.Request) -> web.Response:
        """``PATCH .../chats/{chatId}/posts/{postId}`` ``{"text"}``: the edited Post."""
        group, post = self._own_post(request, "chatId")
        body = await read_json_object(request)
        if "text" not in body:
            raise missing("text")
        self._edit(group, post, post_text(body["text"], has_attachments=bool(post.attachments)))
        return web.json_response(post.to_json())

    async def delete_post(self, request: web.Request) -> web.Response:
        """``DELETE .../chats/{chatId}/posts/{postId}``: 204, PostRemoved to the members."""
        group, post = self._own_post(request, "chatId")
        self._store.remove_post(post)
        self._notifier.post_removed(post.id, group)
        return web.Response(status=204)

    # helpers

    def _edit(self, group: Group, post: Post, text: str) -> None:
        self._store.edit_post(post, text)
        self._notifier.post_event("PostChanged", post, group)

    def _post(self, request: web.Request, chat_param: str) -> tuple[Group, Post]:
        """The chat and the post named by the path, as the caller sees them (or 404)."""
        group, post, _ = self._lookup(request, chat_param)
        return group, post

    def _own_post(self, request: web.Request, chat_param: str) -> tuple[Group, Post]:
        """As :meth:`_post`, and the caller must be the post's creator (or 403)."""
        group, post, who = self._lookup(request, chat_param)
        if post.creator_id != who.person_id:
            raise forbidden("Only the creator of a post can change or delete it")
        return group, post

    def _lookup(self, request: web.Request, chat_param: str) -> tuple[Group, Post, Identity]:
        who = self._oauth.authenticate(request)
        group = self._store.visible_group(request.match_info[chat_param], who.person_id)
        if group is None:
            raise not_found(chat_param)
        post = self._store.find_post(group, request.match_info["postId"])
        if post is None:
            raise not_found("postId")
        return group, post, who


async def _text_body(request: web.Request, *, has_attachments: bool) -> str:
    """The new text of updateGlipPostText: a ``text/*`` body, or JSON ``"..."``/``{"text"}``."""
    raw = await request.read()
    if request.content_type.startswith("text/") and request.content_type != "text/json":
        try:
            value = raw.decode(request.charset or "utf-8")
        except (UnicodeDecodeError, LookupError):
            raise invalid("text", "UTF-8 text") from None
        return post_text(value, has_attachments=has_attachments)
    if request.content_type in _JSON_TYPES and raw.lstrip().startswith(b'"'):
        try:
            value = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise api_error(400, "CMN-101", "Request body is not valid JSON") from None
        return post_text(value, has_attachments=has_attachments)
    body = await read_json_object(request)  # the 400/415 of an empty, foreign or odd body
    if "text" not in body:
        raise missing("text")
    return post_text(body["text"], has_attachments=has_attachments)


def _wants_json_only(request: web.Request) -> bool:
    """Whether ``Accept`` names JSON and not plain text (``*/*`` or none → text/plain)."""
    accept = request.headers.get("Accept", "").lower()
    return "application/json" in accept and "text/plain" not in accept and "*/*" not in accept
