"""glipbot: the library every process of the platform and every bot author uses.

The path of one event touches it at each step: the listener validates with
:mod:`glipbot.events` and enqueues by the names in :mod:`glipbot.contracts`;
a worker runs the bot written with :mod:`glipbot.bot` and posts through
:mod:`glipbot.platform` under its rate limiter; both keep their shared state
in Redis under the names of :mod:`glipbot.state`. It imports nothing of
``worker``, ``listener``, ``tasks`` or ``sandbox``.
"""

from glipbot.settings import Settings

__all__ = ["Settings"]
