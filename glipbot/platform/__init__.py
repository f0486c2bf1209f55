"""The RingCentral platform client: HTTP transport, OAuth, the shared token, REST, rate limits.

``connect(settings)`` wires them once per process; every REST call passes
the cluster-wide :class:`~glipbot.platform.ratelimit.RateLimiter` first.
"""

from glipbot.platform.connect import Platform, connect

__all__ = ["Platform", "connect"]
