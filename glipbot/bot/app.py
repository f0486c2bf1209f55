"""The :class:`Bot` registry and its dispatch rules."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from glipbot import log_events as ev
from glipbot.bot.context import Context, InstallationInfo, Reply
from glipbot.bot.directory import CachingDirectory, Directory
from glipbot.bot.errors import PermanentHandlerError, TransientHandlerError
from glipbot.bot.mentions import mentions_person, strip_mentions
from glipbot.errors import TransientError
from glipbot.events import Event, ExtensionEvent, GroupEvent, PostEvent

#: A handler answers through ``ctx.say``; returning a string is a shortcut for saying it.
Handler = Callable[[Context], str | None]

#: What :meth:`Bot.on` accepts: event types that are ignored by default, and post types
#: other than ``TextMessage`` (those arrive as ``PostAdded`` events).
HOOK_KINDS = frozenset(
    {
        "PostChanged",
        "PostRemoved",
        "GroupLeft",
        "GroupChanged",
        "GroupRenamed",
        "ExtensionChanged",
        "PersonJoined",
        "PersonsAdded",
        "Card",
    }
)

_COMMAND_NAME = re.compile(r"^[\w-]+$")
_COMMAND_TRAILER = ".,:;!?"
_GROUP_CHAT_TYPES = frozenset({"Group", "Team"})


@dataclass(frozen=True)
class _Route:
    handler: Handler
    pattern: re.Pattern[str]


class Bot:
    """A registry of handlers and the rules that pick one for each event.

    Register with the decorators :meth:`on_join`, :meth:`command`,
    :meth:`match`, :meth:`fallback` and :meth:`on`; the task layer calls
    :meth:`handle` for each event and posts the replies it returns.
    """

    def __init__(self, name: str = "bot") -> None:
        self.name = name
        self._join: list[Handler] = []
        self._commands: dict[str, Handler] = {}
        self._patterns: list[_Route] = []
        self._fallback: Handler | None = None
        self._hooks: dict[str, list[Handler]] = {}

    # -- registration ---------------------------------------------------------

    def on_join(self, handler: Handler) -> Handler:
        """Run ``handler`` when the bot is added to a chat (``GroupJoined``)."""
        self._join.append(handler)
        return handler

    def command(self, *names: str) -> Callable[[Handler], Handler]:
        """Run the handler when the first word is one of ``names`` (``/`` optional, any case).

        The remaining words are in ``ctx.args``. Commands are tried before patterns.
        """
        keys = [name.lstrip("/").casefold() for name in names]
        if not keys or not all(_COMMAND_NAME.match(k) for k in keys):
            raise ValueError(f"command names must be single words, not {names!r}")
        taken = [key for key in keys if key in self._commands]
        if taken:
            raise ValueError(f"command {taken[0]!r} is already registered")

        def register(handler: Handler) -> Handler:
            self._commands.update(dict.fromkeys(keys, handler))
            return handler

        return register

    def match(
        self, pattern: str | re.Pattern[str], flags: int = re.IGNORECASE
    ) -> Callable[[Handler], Handler]:
        """Run the handler when ``pattern`` is found in the text (``re.search``).

        ``ctx.match`` holds the match. A string pattern is compiled with
        ``flags`` (case-insensitive by default); a compiled one is used as is.
        Patterns are tried in registration order, after commands.
        """
        compiled = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern, flags)

        def register(handler: Handler) -> Handler:
            self._patterns.append(_Route(handler, compiled))
            return handler

        return register

    def fallback(self, handler: Handler) -> Handler:
        """Run ``handler`` for an addressed text that no command or pattern took."""
        if self._fallback is not None:
            raise ValueError("a fallback is already registered")
        self._fallback = handler
        return handler

    def on(self, kind: str) -> Callable[[Handler], Handler]:
        """Run the handler for an event or post type the bot otherwise ignores.

        ``kind`` is one of :data:`HOOK_KINDS`, e.g. ``"PostRemoved"`` or
        ``"PersonsAdded"``. Every hook of that kind runs, in registration order.
        """
        if kind not in HOOK_KINDS:
            raise ValueError(f"unknown hook kind {kind!r}; expected one of {sorted(HOOK_KINDS)}")

        def register(handler: Handler) -> Handler:
            self._hooks.setdefault(kind, []).append(handler)
            return handler

        return register

    # -- dispatch -------------------------------------------------------------

    def handle(
        self,
        event: Event,
        directory: Directory,
        *,
        bot_id: str | None = None,
        installation: InstallationInfo | None = None,
    ) -> list[Reply]:
        """Run the handlers that ``event`` calls for and return the replies they recorded.

        ``directory`` answers look-ups as the bot the event reached;
        ``installation`` says which installation that is (``ctx.installation``;
        by default the configured bot). ``bot_id`` defaults to the
        installation's, else the envelope's ``ownerId`` (the subscriber is the
        bot). Nothing is posted here. A handler that raises surfaces as a
        :class:`~glipbot.bot.errors.HandlerError` chained to the original.
        """
        bot_id = bot_id or (installation.bot_id if installation else event.envelope.owner_id)
        cache = (
            directory if isinstance(directory, CachingDirectory) else CachingDirectory(directory)
        )
        replies: list[Reply] = []
        ctx = Context(event, cache, bot_id=bot_id, replies=replies, installation=installation)
        for handler in self._select(ctx):
            self._run(handler, ctx)
        return replies

    def _select(self, ctx: Context) -> list[Handler]:
        event = ctx.event
        kind = event.envelope.event_type
        if isinstance(event, GroupEvent) and kind == "GroupJoined":
            if ctx.bot_id not in event.group.members:
                return self._ignore(ctx, "bot_not_member")
            return list(self._join)
        if isinstance(event, ExtensionEvent):
            return list(self._hooks.get("ExtensionChanged", ()))
        if not isinstance(event, PostEvent):
            return list(self._hooks.get(kind, ()))
        post = event.post
        if post.creator_id == ctx.bot_id:
            return self._ignore(ctx, "own_post")
        ctx.text = strip_mentions(post.text)
        if kind != "PostAdded":
            return list(self._hooks.get(kind, ()))
        if post.type != "TextMessage":
            return list(self._hooks.get(post.type, ())) or self._ignore(ctx, "not_text")
        if not mentions_person(post, ctx.bot_id) and self._is_group_chat(ctx):
            return self._ignore(ctx, "not_mentioned")
        handler = self._route(ctx)
        return [handler] if handler is not None else self._ignore(ctx, "no_handler")

    def _route(self, ctx: Context) -> Handler | None:
        words = ctx.text.split(" ")
        first = words[0].lstrip("/").rstrip(_COMMAND_TRAILER).casefold()
        if first in self._commands:
            ctx.args = tuple(w for w in words[1:] if w)
            return self._commands[first]
        for route in self._patterns:
            found = route.pattern.search(ctx.text)
            if found is not None:
                ctx.match = found
                return route.handler
        return self._fallback

    @staticmethod
    def _is_group_chat(ctx: Context) -> bool:
        chat = ctx.chat
        if chat.members:
            return len(chat.members) > 2
        # Without a member list, trust the type: Group and Team chats are group chats.
        return chat.type in _GROUP_CHAT_TYPES

    @staticmethod
    def _ignore(ctx: Context, reason: str) -> list[Handler]:
        ctx.log.debug(ev.BOT_IGNORED, reason=reason, event_type=ctx.event.envelope.event_type)
        return []

    def _run(self, handler: Handler, ctx: Context) -> None:
        name = _name(handler)
        ctx.log.debug(ev.BOT_DISPATCH, handler=name)
        try:
            result = handler(ctx)
            if isinstance(result, str):
                ctx.say(result)
            elif result is not None:
                raise TypeError(f"handler returned {type(result).__name__}, not None or str")
        except TransientError as exc:
            raise TransientHandlerError(
                f"handler {name} failed transiently: {exc}", **_where(name, ctx)
            ) from exc
        except Exception as exc:
            raise PermanentHandlerError(
                f"handler {name} raised {exc!r}", **_where(name, ctx)
            ) from exc


def _name(handler: Handler) -> str:
    # module.function reads well in logs even for handlers defined inside a function.
    module = getattr(handler, "__module__", None) or "?"
    return f"{module}.{getattr(handler, '__name__', repr(handler))}"


def _where(name: str, ctx: Context) -> dict[str, str]:
    return {"handler": name, "event_uuid": ctx.event.envelope.uuid, "group_id": ctx.group_id}
