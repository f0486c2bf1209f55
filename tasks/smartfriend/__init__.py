"""SmartFriend, the seed's example bot: flights, cars, weather, currency and birthdays.

``bot`` is the ready :class:`~glipbot.bot.Bot`; :func:`build_bot` makes one
with other providers; :func:`birthday_greetings` is what the daily beat task calls.
"""

from tasks.smartfriend.birthdays import (
    BirthdaySource,
    FileBirthdaySource,
    birthday_greetings,
    birthday_source,
)
from tasks.smartfriend.bot import bot, build_bot
from tasks.smartfriend.providers import Providers

__all__ = [
    "BirthdaySource",
    "FileBirthdaySource",
    "Providers",
    "birthday_greetings",
    "birthday_source",
    "bot",
    "build_bot",
]
