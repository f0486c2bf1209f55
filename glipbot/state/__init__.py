"""What the platform keeps in Redis: key names, the client, counters and dead letters."""

from glipbot.state.counters import Counters
from glipbot.state.deadletters import DeadLetters
from glipbot.state.keys import Keys
from glipbot.state.redis import redis_from_settings

__all__ = ["Counters", "DeadLetters", "Keys", "redis_from_settings"]
