"""SmartFriend, the example bot: ``bot`` is what the event task dispatches to."""

from __future__ import annotations

from glipbot.bot import Bot
from tasks.smartfriend import cars, currency, flights, greeting, weather
from tasks.smartfriend import help as help_intent
from tasks.smartfriend.providers import Providers


def build_bot(providers: Providers | None = None) -> Bot:
    """A SmartFriend whose intents use ``providers`` (offline defaults when omitted).

    Registration order is matching order for patterns: specific requests
    first, the bare "hi" late, the fallback last.
    """
    providers = providers if providers is not None else Providers()
    bot = Bot("SmartFriend")
    help_intent.register(bot)
    flights.register(bot, providers)
    cars.register(bot, providers)
    weather.register(bot, providers)
    currency.register(bot, providers)
    greeting.register(bot)
    help_intent.register_fallback(bot)
    return bot


#: The bot with offline providers; the task layer imports this one.
bot = build_bot()
