"""Installed bots: each one's subscription, kept by the listener that leads its shard.

The configured bot's path is :mod:`listener.leadership`'s; installed bots
(the ``private`` and ``public`` installations of
:class:`~glipbot.state.installations.InstallationStore`) take the same path,
one per bot, divided among the listeners:

* :mod:`~listener.fleet.shards`: the shards, their leases, who leads which
  (fair shares, hand-overs, take-overs);
* :mod:`~listener.fleet.reign`: leading one shard, following the records;
* :mod:`~listener.fleet.bot`: one bot's subscription, ingest and checks.
"""
