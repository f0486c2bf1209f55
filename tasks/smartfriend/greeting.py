"""Saying hello: when the bot is added to a chat, and when someone just says hi.

Whom to greet on ``GroupJoined``: in a private chat, the other member, who is
necessarily the person who added the bot. In a group the event does not say
who added the bot, so it greets the other members by first name when there
are at most :data:`MAX_NAMED` of them, and "everyone" otherwise.
"""

from __future__ import annotations

from glipbot.bot import Bot, Context
from glipbot.errors import NotFoundError

GREETING = "Hi {names}, Nice to meet you! How can I help you?"
HELLO = 'Hi {name}! How can I help you? Type "help" to see what I can do.'
MAX_NAMED = 3


def register(bot: Bot) -> None:
    """Add the join greeting and the reply to a bare "hi"."""

    @bot.on_join
    def greet_on_join(ctx: Context) -> None:
        others = [m for m in ctx.chat.members if m != ctx.bot_id]
        names = [n for n in (first_name(ctx, m) for m in others[: MAX_NAMED + 1]) if n]
        if len(others) > MAX_NAMED or not names:
            who = "everyone" if len(others) > 1 else "there"
        else:
            who = _join_names(names)
        ctx.say(GREETING.format(names=who))

    # Anchored and short, so a hello that opens a request ("Hi! book me a flight…")
    # is left to the request's intent.
    @bot.match(r"^(?:hi|hello|hey|good (?:morning|afternoon|evening))\b[\w\s]{0,30}[!.]*$")
    def hello(ctx: Context) -> None:
        post = ctx.post
        name = first_name(ctx, post.creator_id) if post is not None else ""
        ctx.say(HELLO.format(name=name or "there"))


def first_name(ctx: Context, person_id: str) -> str:
    """The person's first name, or "" when the platform does not know them."""
    try:
        return ctx.person(person_id).first_name
    except NotFoundError:
        ctx.log.info("greeting_person_unknown", person_id=person_id)
        return ""


def _join_names(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} and {names[-1]}"
