"""Every log event the platform writes, named in one place, one style (snake_case).

Processes log ``log.info(ev.REPLY_POSTED, post_id=...)`` with the context as
keys, never a sentence; operators grep and alert on these names, so a name is
changed only with a CHANGELOG entry. A bot author's own events (``ctx.log``)
are the bot's to name.
"""

from __future__ import annotations

# -- The platform client (glipbot.platform) --

ACCESS_TOKEN_REFUSED = "access_token_refused"
HTTP_RESPONSE = "http_response"
LOGIN_REFUSED = "login_refused"
TOKEN_LOCK_EXPIRED_WHILE_HELD = "token_lock_expired_while_held"
TOKEN_LOGIN = "token_login"
TOKEN_REFRESH_REFUSED = "token_refresh_refused"
TOKEN_REFRESHED = "token_refreshed"
TOKEN_STORE_CORRUPT = "token_store_corrupt"

# -- Contracts between processes (glipbot.contracts) --

MESSAGE_TEMPLATE_MISMATCH = "message_template_mismatch"

# -- Settings (glipbot.unknown_variables; every process) --

SETTING_UNKNOWN = "setting_unknown"

# -- Shared state in Redis (glipbot.state) --

COUNTERS_LOST = "counters_lost"

# -- The bot framework (glipbot.bot) --

BOT_DISPATCH = "bot_dispatch"
BOT_IGNORED = "bot_ignored"

# -- The workers: tasks, dispatch, reply delivery (worker, tasks) --

BOT_LOADED = "bot_loaded"
BROADCAST_ENQUEUED = "broadcast_enqueued"
CHAT_ORDER_RELEASED = "chat_order_released"
DEAD_LETTERS_REPLAYED = "dead_letters_replayed"
DUPLICATE_SWEEP_FAILED = "duplicate_sweep_failed"
EVENT_GIVEN_UP = "event_given_up"
EVENT_HANDLED = "event_handled"
EVENT_INVALID = "event_invalid"
EVENT_RETRY = "event_retry"
HANDLER_FAILED = "handler_failed"
INSTALLATION_REMOVED = "installation_removed"
INSTALLATION_TOKEN_REFUSED = "installation_token_refused"
INSTALLATION_TOKEN_REPLACED = "installation_token_replaced"
INSTALLATION_UNKNOWN = "installation_unknown"
KEEP_ALIVE_FAILED = "keep_alive_failed"
REAPER_BUSY = "reaper_busy"
REAPER_RAN = "reaper_ran"
REPLY_DEAD_LETTERED = "reply_dead_lettered"
REPLY_DEFERRED = "reply_deferred"
REPLY_DUPLICATE_DELETE_FAILED = "reply_duplicate_delete_failed"
REPLY_DUPLICATE_DELETED = "reply_duplicate_deleted"
REPLY_DUPLICATE_GONE = "reply_duplicate_gone"
REPLY_LOCK_LOST = "reply_lock_lost"
REPLY_PARKED = "reply_parked"
REPLY_POSTED = "reply_posted"
REPLY_RECONCILED = "reply_reconciled"
REPLY_RETRY = "reply_retry"
REPLY_SETTLING = "reply_settling"
TASK_RETRY = "task_retry"
WORK_REAP_EXHAUSTED = "work_reap_exhausted"
WORK_REAPED = "work_reaped"

# -- The listener (listener) --

BACKFILL_DONE = "backfill_done"
BACKFILL_FAILED = "backfill_failed"
CONFIGURED_INSTALLATION_FAILED = "configured_installation_failed"
CONFIGURED_INSTALLATION_REGISTERED = "configured_installation_registered"
EVENT_DEAD_LETTERED = "event_dead_lettered"
EVENT_DUPLICATE = "event_duplicate"
EVENT_ENQUEUED = "event_enqueued"
EVENT_FENCED = "event_fenced"
HEALTH_CHANGED = "health_changed"
INSTALL_ACCEPTED = "install_accepted"
INSTALL_FAILED = "install_failed"
INSTALL_REFUSED = "install_refused"
INSTALLATION_CHECK_FAILED = "installation_check_failed"
INSTALLATION_CHECK_REFUSED = "installation_check_refused"
INSTALLED_BOT_GAP = "installed_bot_gap"
INSTALLED_BOT_STARTED = "installed_bot_started"
INSTALLED_BOT_STOPPED = "installed_bot_stopped"
LEASE_ACQUIRED = "lease_acquired"
LEASE_EXTEND_FAILED = "lease_extend_failed"
LEASE_LOST = "lease_lost"
LEASE_LOST_STOPPED_CONSUMING = "lease_lost_stopped_consuming"
LEASE_RELEASED = "lease_released"
LISTENER_STARTED = "listener_started"
LISTENER_STOPPED = "listener_stopped"
LISTENER_SHUTDOWN_REQUESTED = "listener_shutdown_requested"
LISTENER_STEP_FAILED = "listener_step_failed"
LISTENER_STEP_TIMED_OUT = "listener_step_timed_out"
LISTENER_TASK_ABANDONED = "listener_task_abandoned"
LISTENER_TASK_CRASHED = "listener_task_crashed"
OPS_COMMAND = "ops_command"
OPS_COMMAND_DROPPED = "ops_command_dropped"
OPS_COMMAND_UNKNOWN = "ops_command_unknown"
PUBNUB_MESSAGE_CALLBACK_FAILED = "pubnub_message_callback_failed"
PUBNUB_BUFFER_FULL = "pubnub_buffer_full"
PUBNUB_STATUS = "pubnub_status"
PUBNUB_STATUS_CALLBACK_FAILED = "pubnub_status_callback_failed"
PUBNUB_STOP_FAILED = "pubnub_stop_failed"
PUBNUB_SUBSCRIBED = "pubnub_subscribed"
REDIS_UNREACHABLE = "redis_unreachable"
REDIS_WRITE_FAILED = "redis_write_failed"
SHUTDOWN_DRAIN_FAILED = "shutdown_drain_failed"
SUBSCRIPTION_ATTEMPT_FAILED = "subscription_attempt_failed"
SUBSCRIPTION_CLEANUP_FAILED = "subscription_cleanup_failed"
SUBSCRIPTION_CREATED = "subscription_created"
SUBSCRIPTION_DELETE_FAILED = "subscription_delete_failed"
SUBSCRIPTION_DELETED = "subscription_deleted"
SHARD_ACQUIRED = "shard_acquired"
SHARD_LOST = "shard_lost"
SHARD_RELEASED = "shard_released"
SUBSCRIPTION_GAP = "subscription_gap"
SUBSCRIPTION_INACTIVE = "subscription_inactive"
SUBSCRIPTION_LOST = "subscription_lost"
SUBSCRIPTION_RENEWED = "subscription_renewed"
SUBSCRIPTION_REUSED = "subscription_reused"
SUBSCRIPTION_STEP_SKIPPED = "subscription_step_skipped"
SUBSCRIPTION_UNUSABLE = "subscription_unusable"
TRANSPORT_ON_SUBSCRIPTION = "transport_on_subscription"
WATCHDOG_EXIT = "watchdog_exit"
WEBSOCKET_BAD_FRAME = "websocket_bad_frame"
WEBSOCKET_CHECKPOINT_FAILED = "websocket_checkpoint_failed"
WEBSOCKET_CLOSED = "websocket_closed"
WEBSOCKET_CONNECT_FAILED = "websocket_connect_failed"
WEBSOCKET_CONNECTED = "websocket_connected"
WEBSOCKET_ERROR_FRAME = "websocket_error_frame"
WEBSOCKET_RECOVERED = "websocket_recovered"
WEBSOCKET_RECOVERY_FAILED = "websocket_recovery_failed"
WEBSOCKET_REPLAY_OVERFLOW = "websocket_replay_overflow"
WEBSOCKET_SUBSCRIBED = "websocket_subscribed"
WEBSOCKET_SUBSCRIBE_FAILED = "websocket_subscribe_failed"
WEBSOCKET_SUBSCRIBE_RETRY = "websocket_subscribe_retry"
WATCHDOG_RESUMED = "watchdog_resumed"
