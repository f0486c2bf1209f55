"""The REST endpoints this project calls and the rate-limit group of each.

The groups are the spec's ``x-throttling-group`` (RingCentral OpenAPI
1.0.46); the platform names the same group in ``X-Rate-Limit-Group`` on every
answer, and an integration test checks that the two agree. A rate limiter
can key its buckets by ``ENDPOINT_GROUPS[(method, template)]``.
"""

from __future__ import annotations

API = "/restapi/v1.0"

#: The rate-limit group of every endpoint this client calls (the spec's
#: ``x-throttling-group``), keyed by (method, path template).
ENDPOINT_GROUPS: dict[tuple[str, str], str] = {
    ("POST", "/restapi/oauth/token"): "Auth",
    ("POST", "/restapi/oauth/revoke"): "Auth",
    # Not in the 1.0.46 spec; WEBSOCKET.md section 1 puts it in Auth (5 a minute).
    ("POST", "/restapi/oauth/wstoken"): "Auth",
    ("POST", f"{API}/glip/posts"): "Light",
    ("GET", f"{API}/glip/posts"): "Light",
    ("DELETE", f"{API}/glip/chats/{{chatId}}/posts/{{postId}}"): "Medium",
    ("POST", f"{API}/glip/groups"): "Medium",
    ("GET", f"{API}/glip/groups"): "Medium",
    ("GET", f"{API}/glip/groups/{{groupId}}"): "Light",
    ("POST", f"{API}/glip/groups/{{groupId}}/bulk-assign"): "Medium",
    ("GET", f"{API}/glip/persons/{{personId}}"): "Light",
    ("POST", f"{API}/subscription"): "Medium",
    ("GET", f"{API}/subscription"): "Light",
    ("GET", f"{API}/subscription/{{subscriptionId}}"): "Light",
    ("PUT", f"{API}/subscription/{{subscriptionId}}"): "Medium",
    ("DELETE", f"{API}/subscription/{{subscriptionId}}"): "Medium",
    ("POST", f"{API}/subscription/{{subscriptionId}}/renew"): "Light",
    # Who a bot's token belongs to (glipbot/platform/installs.py): readExtension.
    ("GET", f"{API}/account/{{accountId}}/extension/{{extensionId}}"): "Light",
}

#: The platform reads at most this many comma-separated ids per batch call.
MAX_BATCH_IDS = 30
