"""The bot framework: register handlers on a :class:`Bot`, answer through a :class:`Context`.

::

    from glipbot.bot import Bot, Context

    bot = Bot("SmartFriend")

    @bot.command("help")
    def help_(ctx: Context) -> None:
        ctx.say("I can book flights.")

``Bot.handle(event, directory)`` returns the :class:`Reply` objects to post;
nothing here knows about Celery, Redis or HTTP. Test helpers live in
:mod:`glipbot.testing`.
"""

from glipbot.bot.app import HOOK_KINDS, Bot, Handler
from glipbot.bot.cards import card
from glipbot.bot.context import Context, InstallationInfo, Reply
from glipbot.bot.directory import CachingDirectory, Directory, Person
from glipbot.bot.errors import HandlerError, PermanentHandlerError, TransientHandlerError
from glipbot.bot.mentions import mentions_person, strip_mentions

__all__ = [
    "HOOK_KINDS",
    "Bot",
    "CachingDirectory",
    "Context",
    "Directory",
    "Handler",
    "HandlerError",
    "InstallationInfo",
    "PermanentHandlerError",
    "Person",
    "Reply",
    "TransientHandlerError",
    "card",
    "mentions_person",
    "strip_mentions",
]
