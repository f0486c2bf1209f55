"""RestClient: the request each method sends, batches, paging, and the 401 retry."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from platform_fakes import BASE_URL, ScriptedAdapter, session_with

from glipbot.errors import UnauthorizedError
from glipbot.platform.rest import API, ENDPOINT_GROUPS, RestClient
from glipbot.settings import Settings

EXPIRED = {"errorCode": "OAU-128", "message": "Access token expired"}


class FakeTokens:
    """Hands out ``token-N``; a 401 moves to the next one."""

    def __init__(self) -> None:
        self.current = "token-1"
        self.refused: list[str] = []

    def access_token(self) -> str:
        return self.current

    def on_unauthorized(self, stale_token: str) -> str:
        self.refused.append(stale_token)
        self.current = f"token-{len(self.refused) + 1}"
        return self.current


@pytest.fixture
def adapter() -> ScriptedAdapter:
    return ScriptedAdapter()


@pytest.fixture
def tokens() -> FakeTokens:
    return FakeTokens()


@pytest.fixture
def client(adapter: ScriptedAdapter, tokens: FakeTokens) -> RestClient:
    return RestClient(Settings(server_url=BASE_URL), tokens, session_with(adapter))


def test_every_call_carries_the_shared_token(adapter: ScriptedAdapter, client: RestClient) -> None:
    adapter.reply(200, {"id": "g1"})

    client.get_group("g1")

    assert adapter.sent[0].headers["Authorization"] == "Bearer token-1"


def test_a_401_refreshes_once_and_retries_once(
    adapter: ScriptedAdapter, tokens: FakeTokens, client: RestClient
) -> None:
    adapter.reply(401, EXPIRED).reply(200, {"id": "p1"})

    assert client.create_post("g1", "hi") == {"id": "p1"}
    assert tokens.refused == ["token-1"]
    assert [s.headers["Authorization"] for s in adapter.sent] == [
        "Bearer token-1",
        "Bearer token-2",
    ]
    assert adapter.sent[0].json() == adapter.sent[1].json()


def test_a_second_401_escapes(
    adapter: ScriptedAdapter, tokens: FakeTokens, client: RestClient
) -> None:
    adapter.reply(401, EXPIRED).reply(401, EXPIRED)

    with pytest.raises(UnauthorizedError):
        client.get_person("~")
    assert tokens.refused == ["token-1"]


def test_create_subscription_asks_for_encrypted_pubnub(
    adapter: ScriptedAdapter, client: RestClient
) -> None:
    adapter.reply(200, {"id": "s1"})

    client.create_subscription(["/restapi/v1.0/glip/posts"], expires_in=600)

    sent = adapter.sent[0]
    assert (sent.method, sent.path) == ("POST", f"{API}/subscription")
    assert sent.json() == {
        "eventFilters": ["/restapi/v1.0/glip/posts"],
        "deliveryMode": {"transportType": "PubNub", "encryption": True},
        "expiresIn": 600,
    }


def test_subscription_calls(adapter: ScriptedAdapter, client: RestClient) -> None:
    adapter.reply(200, {"id": "s1"}).reply(200, {"records": [{"id": "s1"}]})
    adapter.reply(200, {"id": "s1"}).reply(200, {"id": "s1"}).reply(204)

    client.get_subscription("s1")
    assert client.list_subscriptions() == [{"id": "s1"}]
    client.update_subscription("s1", ["/a"], expires_in=60)
    client.renew_subscription("s1")
    assert client.delete_subscription("s1") is None

    assert [(s.method, s.path) for s in adapter.sent] == [
        ("GET", f"{API}/subscription/s1"),
        ("GET", f"{API}/subscription"),
        ("PUT", f"{API}/subscription/s1"),
        ("POST", f"{API}/subscription/s1/renew"),
        ("DELETE", f"{API}/subscription/s1"),
    ]
    assert adapter.sent[2].json() == {"eventFilters": ["/a"], "expiresIn": 60}


def test_posts(adapter: ScriptedAdapter, client: RestClient) -> None:
    card = {"type": "Card", "title": "Flight"}
    adapter.reply(200, {"id": "p1"}).reply(200, {"records": [], "navigation": {}})

    client.create_post("g1", attachments=[card])
    client.list_posts("g1", record_count=5, page_token="next")

    assert adapter.sent[0].json() == {"groupId": "g1", "attachments": [card]}
    assert (adapter.sent[1].method, adapter.sent[1].path) == ("GET", f"{API}/glip/posts")
    assert dict(parse_qsl(adapter.sent[1].query)) == {
        "groupId": "g1",
        "recordCount": "5",
        "pageToken": "next",
    }


def test_create_group_and_bulk_assign(adapter: ScriptedAdapter, client: RestClient) -> None:
    adapter.reply(200, {"id": "t1"}).reply(200, {"id": "t1"})

    client.create_group("Team", ["p1", "p2"], name="Trips", is_public=False)
    client.bulk_assign("t1", added_person_emails=["a@b.c"], removed_person_ids=["p2"])

    assert adapter.sent[0].json() == {
        "type": "Team",
        "members": [{"id": "p1"}, {"id": "p2"}],
        "name": "Trips",
        "isPublic": False,
    }
    assert (adapter.sent[1].method, adapter.sent[1].path) == (
        "POST",
        f"{API}/glip/groups/t1/bulk-assign",
    )
    assert adapter.sent[1].json() == {"addedPersonEmails": ["a@b.c"], "removedPersonIds": ["p2"]}


def test_list_groups_repeats_the_type_parameter(
    adapter: ScriptedAdapter, client: RestClient
) -> None:
    adapter.reply(200, {"records": []})

    client.list_groups(["Team", "PrivateChat"], record_count=10)

    assert parse_qsl(adapter.sent[0].query) == [
        ("type", "Team"),
        ("type", "PrivateChat"),
        ("recordCount", "10"),
    ]


def test_iter_groups_follows_next_page_tokens(adapter: ScriptedAdapter, client: RestClient) -> None:
    adapter.reply(200, {"records": [{"id": "1"}], "navigation": {"nextPageToken": "n2"}})
    adapter.reply(200, {"records": [{"id": "2"}], "navigation": {}})

    assert [g["id"] for g in client.iter_groups(["Team"])] == ["1", "2"]
    assert ("pageToken", "n2") in parse_qsl(adapter.sent[1].query)


def test_get_persons_batches_thirty_ids_per_call(
    adapter: ScriptedAdapter, client: RestClient
) -> None:
    ids = [f"p{n}" for n in range(31)]
    boundary = "b"
    parts = ['{"response": []}', *(f'{{"id": "p{n}"}}' for n in range(30))]
    body = "".join(f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{p}\r\n" for p in parts)
    adapter.reply(
        207,
        raw=(body + f"--{boundary}--\r\n").encode(),
        headers={"Content-Type": f"multipart/mixed; boundary={boundary}"},
    )
    adapter.reply(200, {"id": "p30"})

    persons = client.get_persons(ids)

    assert [p["id"] for p in persons] == ids
    assert adapter.sent[0].path == f"{API}/glip/persons/{','.join(ids[:30])}"
    assert adapter.sent[1].path == f"{API}/glip/persons/p30"


def test_get_person_of_the_caller(adapter: ScriptedAdapter, client: RestClient) -> None:
    adapter.reply(200, {"id": "bot"})

    client.get_person("~")

    assert adapter.sent[0].path == f"{API}/glip/persons/~"


def test_ids_are_escaped_in_paths(adapter: ScriptedAdapter, client: RestClient) -> None:
    adapter.reply(200, {"id": "x"})

    client.get_group("a/b")

    assert adapter.sent[0].path == f"{API}/glip/groups/a%2Fb"


def test_endpoint_groups_follow_the_spec() -> None:
    assert ENDPOINT_GROUPS[("POST", f"{API}/glip/posts")] == "Light"
    assert ENDPOINT_GROUPS[("GET", f"{API}/glip/groups")] == "Medium"
    assert ENDPOINT_GROUPS[("POST", f"{API}/glip/groups/{{groupId}}/bulk-assign")] == "Medium"
    assert ENDPOINT_GROUPS[("POST", f"{API}/subscription/{{subscriptionId}}/renew")] == "Light"
    assert ENDPOINT_GROUPS[("POST", "/restapi/oauth/token")] == "Auth"


def test_delete_post_deletes_one_post_of_a_chat_in_the_medium_group(
    adapter: ScriptedAdapter, client: RestClient
) -> None:
    adapter.reply(204, None)

    assert client.delete_post("g/1", "p1") is None

    assert (adapter.sent[0].method, adapter.sent[0].path) == (
        "DELETE",
        f"{API}/glip/chats/g%2F1/posts/p1",
    )
    assert ENDPOINT_GROUPS[("DELETE", f"{API}/glip/chats/{{chatId}}/posts/{{postId}}")] == "Medium"


def test_an_installed_bots_client_names_its_bot_on_every_call(
    adapter: ScriptedAdapter, tokens: FakeTokens
) -> None:
    """So the rate limiter counts its calls in that bot's buckets; OAuth is not asked."""
    seen: list[tuple[str, str | None]] = []

    class Hook:
        def before_request(self, group: str, *, bot: str | None = None) -> None:
            seen.append((group, bot))

        def after_response(self, group: str, *_: object, bot: str | None = None) -> None:
            seen.append((group, bot))

    client = RestClient(
        Settings(server_url=BASE_URL), tokens, session_with(adapter), hooks=[Hook()], bot_id="b2"
    )
    adapter.reply(401, EXPIRED).reply(200, {"id": "p1"})

    client.create_post("g1", "hi")

    assert seen == [("Light", "b2")] * 4
    assert tokens.refused == ["token-1"]
