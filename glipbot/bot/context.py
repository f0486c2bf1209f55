"""What a handler receives (:class:`Context`) and what it produces (:class:`Reply`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from glipbot.bot.directory import CachingDirectory, Person
from glipbot.events import Event, Group, GroupEvent, Post, PostEvent, chat_id
from glipbot.logging import get_logger

#: The platform refuses longer texts and more attachments (``POST /glip/posts``).
MAX_TEXT_LENGTH = 10_000
MAX_ATTACHMENTS = 20


#: :attr:`InstallationInfo.kind` of the bot the ``RINGCENTRAL_*`` settings configure.
CONFIGURED = "configured"


@dataclass(frozen=True)
class InstallationInfo:
    """Which installation of the bot an event reached: ``ctx.installation``.

    One deployment answers as many bot extensions: the configured bot
    (``kind`` ``"configured"``) and the bot installed in other accounts
    (``"private"`` or ``"public"``). ``bot_id`` is the bot's own person id
    (the event's ``ownerId``), ``account_id`` the RingCentral account it
    lives in ("" when not known). Never a token.
    """

    bot_id: str
    account_id: str = ""
    kind: str = CONFIGURED

    @property
    def configured(self) -> bool:
        """Whether it is the bot of the ``RINGCENTRAL_*`` settings."""
        return self.kind == CONFIGURED


@dataclass(frozen=True)
class Reply:
    """One message the bot wants to post, not yet posted.

    ``key`` is ``"{event uuid}:{index}"``, the index being the reply's position
    among the replies to that event: the same event always yields the same
    keys, which is what makes posting exactly once possible.
    """

    key: str
    group_id: str
    text: str
    attachments: tuple[Mapping[str, Any], ...] = ()

    @property
    def index(self) -> int:
        """The reply's position among the replies to its event."""
        return int(self.key.rsplit(":", 1)[1])

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for a task argument."""
        return {
            "key": self.key,
            "group_id": self.group_id,
            "text": self.text,
            "attachments": [dict(a) for a in self.attachments],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Reply:
        """The inverse of :meth:`to_json` (extra fields are ignored)."""
        return cls(
            key=str(data["key"]),
            group_id=str(data["group_id"]),
            text=str(data.get("text") or ""),
            attachments=tuple(data.get("attachments") or ()),
        )

    def body(self) -> dict[str, Any]:
        """The JSON body of ``POST /glip/posts`` for this reply."""
        body: dict[str, Any] = {"groupId": self.group_id, "text": self.text}
        if self.attachments:
            body["attachments"] = [dict(a) for a in self.attachments]
        return body


class Context:
    """Everything a handler needs about one event, and ``say`` to answer it.

    Attributes set by the dispatcher: ``event``, ``bot_id``, ``installation``
    (the :class:`InstallationInfo` the event reached: answers and look-ups go
    through that bot), ``text`` (the post text without mention markup,
    whitespace collapsed), ``match`` (for :meth:`Bot.match
    <glipbot.bot.Bot.match>` handlers) and ``args`` (the words after a
    :meth:`Bot.command <glipbot.bot.Bot.command>`).
    """

    def __init__(
        self,
        event: Event,
        directory: CachingDirectory,
        *,
        bot_id: str,
        text: str = "",
        replies: list[Reply] | None = None,
        installation: InstallationInfo | None = None,
    ) -> None:
        self.event = event
        self.bot_id = bot_id
        self.installation = installation or InstallationInfo(bot_id)
        self.text = text
        self.match: re.Match[str] | None = None
        self.args: tuple[str, ...] = ()
        self.directory = directory
        self._replies: list[Reply] = [] if replies is None else replies
        self._chat: Group | None = event.group if isinstance(event, GroupEvent) else None
        self.log = get_logger("glipbot.bot").bind(
            event_uuid=event.envelope.uuid, group_id=self.group_id
        )

    @property
    def post(self) -> Post | None:
        """The post of a ``PostAdded``/``PostChanged`` event, else ``None``."""
        return self.event.post if isinstance(self.event, PostEvent) else None

    @property
    def group_id(self) -> str:
        """The id of the chat the event happened in ("" for extension events)."""
        return chat_id(self.event)

    @property
    def chat(self) -> Group:
        """The chat, from the event when it carries one, else looked up (and cached)."""
        if self._chat is None:
            self._chat = self.directory.group(self.group_id)
        return self._chat

    @property
    def replies(self) -> tuple[Reply, ...]:
        """The replies recorded so far for this event, in order."""
        return tuple(self._replies)

    def capture(self, name: str, default: str = "") -> str:
        """The text of the named group ``name`` in :attr:`match`, or ``default``."""
        if self.match is None:
            return default
        value = self.match.groupdict().get(name)
        return default if value is None else value

    def person(self, person_id: str) -> Person:
        """The person ``person_id`` (``GET /glip/persons``), cached."""
        return self.directory.person(person_id)

    def say(
        self,
        text: str | None = None,
        *,
        card: Mapping[str, Any] | None = None,
        attachments: Sequence[Mapping[str, Any]] | None = None,
    ) -> Reply:
        """Record a reply to this chat; the task layer posts it later, exactly once.

        ``card`` is a shortcut for one Card attachment (see
        :func:`glipbot.bot.cards.card`); it goes after ``attachments``.
        """
        items = [*(attachments or ()), *([card] if card is not None else [])]
        if not text and not items:
            raise ValueError("say() needs a text, a card or attachments")
        if text is not None and len(text) > MAX_TEXT_LENGTH:
            raise ValueError(
                f"reply text is {len(text)} characters; the limit is {MAX_TEXT_LENGTH}"
            )
        if len(items) > MAX_ATTACHMENTS:
            raise ValueError(f"{len(items)} attachments; the limit is {MAX_ATTACHMENTS}")
        if not self.group_id:
            raise ValueError(f"event {self.event.envelope.event_type} has no chat to answer in")
        reply = Reply(
            key=f"{self.event.envelope.uuid}:{len(self._replies)}",
            group_id=self.group_id,
            text=text or "",
            attachments=tuple(items),
        )
        self._replies.append(reply)
        return reply
