"""SmartFriend, the seed's example bot: flights, cars, weather, currency and birthdays.

``bot`` is the ready :class:`~glipbot.bot.Bot`; :func:`build_bot` makes one
with other providers; :func:`birthday_greetings` is what the daily job in
:mod:`tasks.smartfriend.jobs` calls, with the ``BIRTHDAYS_FILE`` of
:class:`SmartFriendSettings`. The jobs module is not imported here (the bot's
own code needs no Celery); the ``tasks`` package imports it.
"""

from tasks.smartfriend.birthdays import (
    BirthdaySource,
    FileBirthdaySource,
    birthday_greetings,
    birthday_source,
)
from tasks.smartfriend.bot import bot, build_bot
from tasks.smartfriend.providers import Providers
from tasks.smartfriend.settings import SmartFriendSettings

__all__ = [
    "BirthdaySource",
    "FileBirthdaySource",
    "Providers",
    "SmartFriendSettings",
    "birthday_greetings",
    "birthday_source",
    "bot",
    "build_bot",
]
