"""The platform subscription an event's path starts from, kept alive while leading.

* :mod:`~listener.subscription.info`: what a subscription is
  (:class:`SubscriptionInfo`) and the REST calls that manage it
  (:class:`SubscriptionApi`);
* :mod:`~listener.subscription.keeper`: :class:`SubscriptionKeeper` reuses,
  creates, renews, re-creates and cleans up, and moves the transport;
* :mod:`~listener.subscription.gaps`: the record of each window without one.
"""

from listener.subscription.gaps import MAX_GAPS_KEPT, GapLog
from listener.subscription.info import (
    EVENT_FILTERS,
    OnChange,
    SubscriptionApi,
    SubscriptionHolder,
    SubscriptionInfo,
)
from listener.subscription.keeper import MIN_RETRY, RETRY_POLICY, SubscriptionKeeper

__all__ = [
    "EVENT_FILTERS",
    "MAX_GAPS_KEPT",
    "MIN_RETRY",
    "RETRY_POLICY",
    "GapLog",
    "OnChange",
    "SubscriptionApi",
    "SubscriptionHolder",
    "SubscriptionInfo",
    "SubscriptionKeeper",
]
