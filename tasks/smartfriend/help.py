"""What SmartFriend can do: the ``help`` command and the fallback."""

from __future__ import annotations

from glipbot.bot import Bot, Context

HELP_TEXT = """I'm SmartFriend. Here is what I can do:
• Book a flight: "book me a flight New York \N{EN DASH} San Francisco 05/06/17, ID #5674028947"
• Rent a car: "rent a car in Denver from 05/06/17 to 05/09/17"
• Check the weather: "weather in Boston" or "what's the weather in Paris tomorrow"
• Convert money: "convert 100 USD to EUR" or "exchange rate USD EUR"
In a group chat, mention me so I know you're talking to me."""

FALLBACK_TEXT = (
    "Sorry, I didn't get that. I can book flights, rent cars, check the weather "
    'and convert currencies. Type "help" for examples.'
)


def register(bot: Bot) -> None:
    """Add ``help`` (also ``/help``, ``commands``) and "what can you do"."""

    @bot.command("help", "commands")
    def show_help(ctx: Context) -> str:
        return HELP_TEXT

    @bot.match(r"\bwhat (?:can|do) you do\b")
    def what_can_you_do(ctx: Context) -> str:
        return HELP_TEXT


def register_fallback(bot: Bot) -> None:
    """Add the fallback; call it last so that it reads as the last resort."""

    @bot.fallback
    def fallback(ctx: Context) -> str:
        return FALLBACK_TEXT
