"""The workers' own error, a leaf of :mod:`glipbot.errors`' hierarchy::

    PermanentError
    └── UnknownInstallationError   a bot this deployment does not serve (any more)

(The platform refusing an installed bot's token is
:class:`glipbot.errors.TokenRefusedError`, which listeners meet too.)
It is permanent: the event or reply is kept as a dead letter, never retried,
and never answered with another bot's token.
"""

from __future__ import annotations

from glipbot.errors import PermanentError

#: :attr:`UnknownInstallationError.state`: no installation of the bot at all.
UNKNOWN = "unknown"
#: The installation was removed (uninstalled, or by ops); its token is gone.
REMOVED = "removed"
#: Recorded as the configured bot, but the ``RINGCENTRAL_*`` settings now name another.
NOT_CONFIGURED = "not_configured"


class UnknownInstallationError(PermanentError):
    """No active installation of ``bot_id``: its events and replies are not handled.

    ``state`` says why: :data:`UNKNOWN`, :data:`REMOVED` or :data:`NOT_CONFIGURED`.
    """

    def __init__(self, bot_id: str, state: str) -> None:
        super().__init__(f"bot {bot_id} is no installation of this deployment ({state})")
        self.bot_id = bot_id
        self.state = state
