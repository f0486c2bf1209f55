"""Every Redis key of the platform, named in one place.

All keys start with ``settings.key_prefix`` (default ``glipbot:``), so
``redis-cli --scan --pattern 'glipbot:*'`` shows everything the platform
keeps. Celery's queues (``events``, ``replies``, ``ops``) are not prefixed:
two bots need two Redis databases, not two prefixes. Build a :class:`Keys`
once from the settings and ask it for names; never format a key by hand
elsewhere.

**Installations.** A key that belongs to one bot installation (its chats'
order, its reply records, its rate-limit buckets, its counters) takes the
installation's bot id as ``bot``: ``None`` is the configured bot (the
``RINGCENTRAL_*`` settings), whose keys keep the form they always had; an
installed bot's live under ``<prefix>bot:<bot id>:``, so ``redis-cli --scan
--pattern 'glipbot:bot:<bot id>:*'`` shows one installation's state.
"""

from __future__ import annotations

from dataclasses import dataclass

from glipbot.settings import Settings


@dataclass(frozen=True)
class Keys:
    """The key names of one bot, derived from its prefix."""

    prefix: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Keys:
        """The keys of the bot that ``settings`` describe."""
        return cls(settings.key_prefix)

    def installation_prefix(self, bot: str | None = None) -> str:
        """Where installation ``bot``'s keys start (the prefix itself for the configured bot)."""
        return self.prefix if bot is None else f"{self.prefix}bot:{bot}:"

    # -- token owner (glipbot/platform/tokens.py) --

    @property
    def token(self) -> str:
        """String: the shared OAuth token as JSON (access, refresh, expiry times, owner id)."""
        return f"{self.prefix}token"

    @property
    def token_lock(self) -> str:
        """redis-py ``Lock``: held by the one process that logs in or refreshes."""
        return f"{self.prefix}token:lock"

    @property
    def token_logins(self) -> str:
        """Counter: successful logins (password, JWT) since the key was created."""
        return f"{self.prefix}token:logins"

    @property
    def token_refreshes(self) -> str:
        """Counter: successful refresh-token grants."""
        return f"{self.prefix}token:refreshes"

    @property
    def token_login_failure(self) -> str:
        """String (JSON, with TTL): the last refusal of the configured credentials."""
        return f"{self.prefix}token:login_failure"

    def token_owner_id(self, token_fingerprint: str) -> str:
        """String: the person id behind a static bot token (keyed by the token's hash)."""
        return f"{self.prefix}token:owner_id:{token_fingerprint}"

    # -- installations (glipbot/state/installations.py) ---------------------

    @property
    def installations(self) -> str:
        """Hash: bot extension id → the installation as JSON (with its token)."""
        return f"{self.prefix}installations"

    @property
    def installations_version(self) -> str:
        """Counter: incremented at every change of an installation."""
        return f"{self.prefix}installations:version"

    # -- listener (listener/) ------------------------------------------------

    @property
    def listener_lease(self) -> str:
        """String with TTL: the active listener's lease (holder id and fencing token)."""
        return f"{self.prefix}listener:lease"

    @property
    def listener_fence(self) -> str:
        """Counter: the fencing token, incremented on every lease acquisition."""
        return f"{self.prefix}listener:fence"

    def listener_shard_lease(self, shard: int) -> str:
        """String with TTL: the lease of installed bots' shard ``shard`` (holder and fence)."""
        return f"{self.prefix}listener:lease:{shard}"

    def listener_shard_fence(self, shard: int) -> str:
        """Counter: shard ``shard``'s fencing token, incremented on every acquisition."""
        return f"{self.prefix}listener:fence:{shard}"

    @property
    def listener_members(self) -> str:
        """Sorted set: listener instance -> when it last said it is alive (Redis time, ms)."""
        return f"{self.prefix}listener:members"

    @property
    def listener_commands(self) -> str:
        """List: ops commands (``{"command": "renew" | "recreate"}``) for the leader."""
        return f"{self.prefix}listener:commands"

    def listener_status_of(self, instance: str) -> str:
        """String with TTL: one listener instance's health as JSON (the ``/healthz`` body)."""
        return f"{self.prefix}listener:status:{instance}"

    @property
    def listener_status_pattern(self) -> str:
        """``SCAN`` pattern matching every instance's status key."""
        return f"{self.prefix}listener:status:*"

    @property
    def listener_chats(self) -> str:
        """Sorted set: each chat's newest event seen (epoch seconds), backfill's watermarks."""
        return f"{self.prefix}listener:chats"

    @property
    def subscription_gaps(self) -> str:
        """List: JSON windows ``{start, end, seconds, old, new}`` when no subscription existed."""
        return f"{self.prefix}listener:gaps"

    @property
    def subscription_id(self) -> str:
        """String: the id of the subscription the listener consumes."""
        return f"{self.prefix}subscription:id"

    @property
    def subscriptions_created(self) -> str:
        """Set: ids of subscriptions this bot created, so stale ones can be deleted."""
        return f"{self.prefix}subscription:created"

    @property
    def websocket_session(self) -> str:
        """String (JSON): the WebSocket session to recover (``wsc``, subscription id, times)."""
        return f"{self.prefix}websocket:session"

    @property
    def timetoken(self) -> str:
        """String: the last PubNub timetoken consumed, to resume after a restart."""
        return f"{self.prefix}pubnub:timetoken"

    @property
    def dedup_prefix(self) -> str:
        """Prefix of the per-notification de-duplication keys."""
        return f"{self.prefix}dedup:"

    def dedup(self, event_uuid: str) -> str:
        """String with TTL (``SET NX``): the notification ``event_uuid`` was enqueued."""
        return f"{self.dedup_prefix}{event_uuid}"

    @property
    def dead_letters(self) -> str:
        """List: JSON records of inputs that could not be handled, with their reason."""
        return f"{self.prefix}deadletters"

    # -- workers (tasks/) ----------------------------------------------------

    @property
    def reply_prefix(self) -> str:
        """Prefix of the reply idempotency keys."""
        return f"{self.prefix}reply:"

    def reply(self, reply_key: str, bot: str | None = None) -> str:
        """Hash with TTL: ``pending`` (when a POST began) or ``post_id`` once posted."""
        return f"{self.installation_prefix(bot)}reply:{reply_key}"

    def reply_claims(self, group_id: str, bot: str | None = None) -> str:
        """Set with TTL: ids of the bot's posts in the chat that a reply key owns."""
        return f"{self.installation_prefix(bot)}chat:{group_id}:claims"

    @property
    def reply_watch(self) -> str:
        """Hash: reply key -> JSON of a reply posted again after a POST whose outcome was
        unknown, watched for a late duplicate to delete (``worker/reconcile.py``)."""
        return f"{self.prefix}replies:watch"

    # -- work in flight (glipbot/contracts/ledger.py) --

    @property
    def ledger_deadlines(self) -> str:
        """Sorted set: ledger entry id -> the time by which its work must show progress."""
        return f"{self.prefix}ledger:deadlines"

    @property
    def ledger_entries(self) -> str:
        """Hash: ledger entry id -> JSON ``{queue, message}`` (the Celery message to re-send)."""
        return f"{self.prefix}ledger:entries"

    @property
    def ledger_reaps(self) -> str:
        """Hash: ledger entry id -> how many times the reaper re-sent it."""
        return f"{self.prefix}ledger:reaps"

    @property
    def reaper_lock(self) -> str:
        """String with TTL: held by the one reaper run at a time."""
        return f"{self.prefix}ledger:reaper:lock"

    @property
    def ratelimit_prefix(self) -> str:
        """Prefix of the cluster-wide rate limiter's keys."""
        return f"{self.prefix}ratelimit:"

    def ratelimit(self, group: str, bot: str | None = None) -> str:
        """Sorted set or bucket: requests made in rate-limit ``group`` (Light, Medium, ...)."""
        return f"{self.installation_prefix(bot)}ratelimit:{group}"

    def ratelimit_penalty(self, group: str, bot: str | None = None) -> str:
        """String with TTL: set after a 429 so every worker pauses ``group`` until it expires."""
        return f"{self.ratelimit(group, bot)}:penalty"

    def ratelimit_limits(self, group: str, bot: str | None = None) -> str:
        """Hash: ``limit`` and ``window_ms`` of ``group``, learned from the headers."""
        return f"{self.ratelimit(group, bot)}:limits"

    # -- per-chat reply order (glipbot/contracts/chat_order.py) --

    def chat_seq(self, group_id: str, bot: str | None = None) -> str:
        """Counter: the listener's sequence number of the chat's events."""
        return f"{self.installation_prefix(bot)}chat:{group_id}:seq"

    def chat_turn(self, group_id: str, bot: str | None = None) -> str:
        """Hash ``{n, i}``: the reply of the chat whose turn it is to be posted."""
        return f"{self.installation_prefix(bot)}chat:{group_id}:turn"

    def chat_reply_counts(self, group_id: str, bot: str | None = None) -> str:
        """Hash ``{seq: replies}``: how many replies each handled event produced."""
        return f"{self.installation_prefix(bot)}chat:{group_id}:counts"

    def chat_inflight(self, group_id: str, bot: str | None = None) -> str:
        """Hash: ``"<seq>"`` (an event not handled yet) or ``"<seq>:<index>"`` (a reply not
        done yet) -> its ledger entry id; what the chat's turn may still wait for."""
        return f"{self.installation_prefix(bot)}chat:{group_id}:inflight"

    def chat_parked(self, group_id: str, bot: str | None = None) -> str:
        """Hash: ``"<seq>:<index>"`` -> ledger entry id of a reply parked until its turn."""
        return f"{self.installation_prefix(bot)}chat:{group_id}:parked"

    @property
    def chats_waiting(self) -> str:
        """Set: chats where a reply waits for its turn (what the reaper looks at)."""
        return f"{self.prefix}chats:waiting"

    @property
    def counters(self) -> str:
        """Hash: cluster-wide counters of the workers (replies posted, dead letters, ...)."""
        return f"{self.prefix}counters"

    def bot_counters(self, bot: str) -> str:
        """Hash: the workers' counters of one bot (its share of :attr:`counters`)."""
        return f"{self.installation_prefix(bot)}counters"

    @property
    def canary(self) -> str:
        """String: when beat's canary task last ran on a worker (epoch seconds)."""
        return f"{self.prefix}ops:canary"
