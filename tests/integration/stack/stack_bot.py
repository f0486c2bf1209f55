"""The stack tests' bot: SmartFriend plus a ``boom`` command whose handler fails on demand.

Workers load it with ``BOT_APP=tests.integration.stack.stack_bot:bot`` (the
stack puts the project root on ``PYTHONPATH``). While the file named by
``STACK_BOOM_FUSE`` exists, ``boom`` raises, like a handler with a bug;
once the file is gone (the bug "fixed"), it answers :data:`DEFUSED`.
"""

from __future__ import annotations

import os
from pathlib import Path

from glipbot.bot import Context
from tasks.smartfriend import build_bot

DEFUSED = "Boom defused."

bot = build_bot()


@bot.command("boom")
def boom(ctx: Context) -> str:
    """Raise while the fuse file exists; answer once it is gone."""
    fuse = os.environ.get("STACK_BOOM_FUSE", "")
    if fuse and Path(fuse).exists():
        raise RuntimeError("boom: this handler fails on purpose")
    return DEFUSED
