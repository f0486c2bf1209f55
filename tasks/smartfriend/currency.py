"""Currency exchange: "convert 100 USD to EUR", "exchange rate USD EUR"."""

from __future__ import annotations

from decimal import Decimal

from glipbot.bot import Bot, Context
from tasks.smartfriend.providers import ExchangeRates, Providers, UnknownCurrencyError

_CODE = r"[a-z]{3}"
CONVERT = (
    rf"(?P<amount>\d[\d,]*(?:\.\d+)?)\s*(?P<base>{_CODE})\s+(?:to|in|into)\s+(?P<quote>{_CODE})\b"
)
RATE = (
    rf"\brates?\b(?:\s+(?:of|for|from))?\s+(?P<base>{_CODE})"
    rf"\s*(?:to|/|-|and|in)?\s*(?P<quote>{_CODE})\b"
)
_CENT = Decimal("0.01")
_RATE_PLACES = Decimal("0.0001")


def register(bot: Bot, providers: Providers) -> None:
    """Add the conversion and the exchange-rate intents."""

    @bot.match(CONVERT)
    def convert(ctx: Context) -> str:
        amount = Decimal(ctx.capture("amount").replace(",", ""))
        return exchange_text(providers.rates, ctx.capture("base"), ctx.capture("quote"), amount)

    @bot.match(RATE)
    def exchange_rate(ctx: Context) -> str:
        return exchange_text(providers.rates, ctx.capture("base"), ctx.capture("quote"), None)


def exchange_text(rates: ExchangeRates, base: str, quote: str, amount: Decimal | None) -> str:
    """The rate, and the converted ``amount`` when there is one."""
    base, quote = base.upper(), quote.upper()
    try:
        rate = rates.rate(base, quote)
    except UnknownCurrencyError as exc:
        known = ", ".join(rates.currencies())
        return f"Sorry, I don't know the currency {exc.code.upper()}. I know {known}."
    rate_text = f"1 {base} = {rate.quantize(_RATE_PLACES)} {quote}"
    note = f"; {rates.note}" if rates.note else ""
    if amount is None:
        return f"{rate_text} ({rates.note})." if rates.note else f"{rate_text}."
    converted = (amount * rate).quantize(_CENT)
    return f"{amount.quantize(_CENT):,} {base} = {converted:,} {quote} ({rate_text}{note})."
