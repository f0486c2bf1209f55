"""HttpTransport: timeouts, JSON, rate-limit headers, 207 batches, and the error mapping."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
import requests
from platform_fakes import BASE_URL, BotRecordingHook, ScriptedAdapter, session_with

from glipbot.errors import (
    BadRequestError,
    NetworkError,
    NotFoundError,
    PlatformError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
)
from glipbot.platform.http import (
    DEFAULT_RETRY_AFTER,
    HttpTransport,
    RateLimitInfo,
    parse_multipart,
    parse_retry_after,
)

LIGHT = {
    "X-Rate-Limit-Group": "Light",
    "X-Rate-Limit-Limit": "50",
    "X-Rate-Limit-Remaining": "49",
    "X-Rate-Limit-Window": "60",
}
CLASSIC = {
    "errorCode": "CMN-102",
    "message": "Resource for parameter [groupId] is not found",
    "errors": [{"errorCode": "CMN-102", "message": "...", "parameterName": "groupId"}],
}
OAUTH = {
    "error": "invalid_grant",
    "error_description": "Invalid resource owner credentials",
    "errors": [{"errorCode": "OAU-140", "message": "Invalid resource owner credentials"}],
}


@pytest.fixture
def adapter() -> ScriptedAdapter:
    return ScriptedAdapter()


@pytest.fixture
def transport(adapter: ScriptedAdapter) -> HttpTransport:
    return HttpTransport(BASE_URL, timeout=7.5, session=session_with(adapter))


def _get(transport: HttpTransport) -> object:
    return transport.request("GET", "/restapi/v1.0/glip/groups/1", group="Light")


def test_json_in_and_out_with_the_timeout(
    adapter: ScriptedAdapter, transport: HttpTransport
) -> None:
    adapter.reply(200, {"id": "p1"})

    answer = transport.request(
        "POST", "/restapi/v1.0/glip/posts", group="Light", json_body={"groupId": "1", "text": "hi"}
    )

    assert answer == {"id": "p1"}
    [sent] = adapter.sent
    assert sent.url == f"{BASE_URL}/restapi/v1.0/glip/posts"
    assert sent.json() == {"groupId": "1", "text": "hi"}
    assert sent.headers["Accept"] == "application/json"
    assert adapter.last_timeout == 7.5


def test_an_empty_answer_is_none(adapter: ScriptedAdapter, transport: HttpTransport) -> None:
    adapter.reply(204)

    assert transport.request("DELETE", "/restapi/v1.0/subscription/s", group="Medium") is None


def test_a_non_json_success_is_a_server_error(
    adapter: ScriptedAdapter, transport: HttpTransport
) -> None:
    adapter.reply(200, raw=b"<html>proxy</html>", headers={"Content-Type": "text/html"})

    with pytest.raises(ServerError):
        _get(transport)


def test_rate_limit_headers_are_parsed_on_success(
    adapter: ScriptedAdapter, transport: HttpTransport
) -> None:
    adapter.reply(200, {"id": "1"}, headers=LIGHT)

    _get(transport)

    assert transport.last_rate_limit == RateLimitInfo("Light", 50, 49, 60)


def test_rate_limit_headers_are_attached_to_errors(
    adapter: ScriptedAdapter, transport: HttpTransport
) -> None:
    adapter.reply(404, CLASSIC, headers=LIGHT)

    with pytest.raises(NotFoundError) as caught:
        _get(transport)

    assert caught.value.rate_limit == RateLimitInfo("Light", 50, 49, 60)
    assert transport.last_rate_limit == caught.value.rate_limit


@pytest.mark.parametrize(
    "headers",
    [{}, {**LIGHT, "X-Rate-Limit-Limit": "many"}, {"X-Rate-Limit-Group": "Light"}],
)
def test_incomplete_rate_limit_headers_give_none(headers: dict[str, str]) -> None:
    assert RateLimitInfo.from_headers(requests.structures.CaseInsensitiveDict(headers)) is None


def test_429_carries_retry_after_and_group(
    adapter: ScriptedAdapter, transport: HttpTransport
) -> None:
    adapter.reply(
        429,
        {"errorCode": "CMN-301", "message": "Request rate exceeded"},
        headers={**LIGHT, "X-Rate-Limit-Remaining": "0", "Retry-After": "17"},
    )

    with pytest.raises(RateLimitedError) as caught:
        _get(transport)

    error = caught.value
    assert (error.status, error.error_code, error.retry_after, error.group) == (
        429,
        "CMN-301",
        17.0,
        "Light",
    )


def test_429_without_retry_after_waits_the_default(
    adapter: ScriptedAdapter, transport: HttpTransport
) -> None:
    adapter.reply(429, {"errorCode": "CMN-301"})

    with pytest.raises(RateLimitedError) as caught:
        _get(transport)

    assert caught.value.retry_after == DEFAULT_RETRY_AFTER == 30.0
    assert caught.value.group is None


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [(503, "5", 5.0), (503, None, None), (500, None, None), (502, "0", 0.0)],
)
def test_5xx_is_a_server_error_with_optional_retry_after(
    adapter: ScriptedAdapter,
    transport: HttpTransport,
    status: int,
    retry_after: str | None,
    expected: float | None,
) -> None:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    adapter.reply(
        status, {"errorCode": "CMN-211", "message": "Service overloaded"}, headers=headers
    )

    with pytest.raises(ServerError) as caught:
        _get(transport)

    assert caught.value.retry_after == expected
    assert caught.value.error_code == "CMN-211"


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (
            401,
            {"errorCode": "OAU-128", "message": "Access token expired"},
            UnauthorizedError,
            "OAU-128",
        ),
        (404, CLASSIC, NotFoundError, "CMN-102"),
        (400, OAUTH, BadRequestError, "OAU-140"),
        (403, {"errorCode": "SUB-505", "message": "too many"}, BadRequestError, "SUB-505"),
        (409, {"error": "conflict"}, BadRequestError, "conflict"),
        (422, None, BadRequestError, None),
    ],
)
def test_4xx_map_to_permanent_errors(
    adapter: ScriptedAdapter,
    transport: HttpTransport,
    status: int,
    body: object,
    error: type[PlatformError],
    code: str | None,
) -> None:
    adapter.reply(status, body)

    with pytest.raises(error) as caught:
        _get(transport)

    assert type(caught.value) is error
    assert caught.value.status == status
    assert caught.value.error_code == code
    assert caught.value.body == body


def test_the_message_names_the_call_and_the_platforms_words(
    adapter: ScriptedAdapter, transport: HttpTransport
) -> None:
    adapter.reply(400, OAUTH)

    with pytest.raises(BadRequestError) as caught:
        _get(transport)

    assert str(caught.value) == (
        "GET /restapi/v1.0/glip/groups/1 -> 400 OAU-140: Invalid resource owner credentials"
    )


@pytest.mark.parametrize(
    "failure",
    [
        requests.ConnectTimeout("connect timed out"),
        requests.ReadTimeout("read timed out"),
        requests.ConnectionError("connection refused"),
        requests.exceptions.ChunkedEncodingError("reset"),
    ],
)
def test_transport_failures_are_network_errors(
    adapter: ScriptedAdapter, transport: HttpTransport, failure: Exception
) -> None:
    adapter.fail(failure)

    with pytest.raises(NetworkError) as caught:
        _get(transport)

    assert caught.value.__cause__ is failure


class _Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, ...]] = []

    def before_request(self, group: str) -> None:
        self.seen.append(("before", group))

    def after_response(
        self, group: str, rate_limit: RateLimitInfo | None, error: PlatformError | None
    ) -> None:
        self.seen.append(("after", group, type(error).__name__, rate_limit and rate_limit.group))


def test_hooks_see_every_call_with_its_group(adapter: ScriptedAdapter) -> None:
    hook = _Recorder()
    transport = HttpTransport(BASE_URL, 1.0, session_with(adapter), hooks=[hook])
    adapter.reply(200, {}, headers=LIGHT).reply(429, {}, headers=LIGHT)

    _get(transport)
    with pytest.raises(RateLimitedError):
        _get(transport)

    assert hook.seen == [
        ("before", "Light"),
        ("after", "Light", "NoneType", "Light"),
        ("before", "Light"),
        ("after", "Light", "RateLimitedError", "Light"),
    ]


def test_a_call_for_an_installed_bot_names_it_to_the_hooks(adapter: ScriptedAdapter) -> None:
    """Hooks that never heard of bots still see the configured bot's calls as before."""
    aware, unaware = BotRecordingHook(), _Recorder()
    transport = HttpTransport(BASE_URL, 1.0, session_with(adapter), hooks=[aware])
    adapter.reply(200, {}, headers=LIGHT).reply(200, {}, headers=LIGHT).reply(200, {})

    transport.request("GET", "/restapi/v1.0/glip/groups/1", group="Light", bot="b2")
    _get(transport)
    transport.hooks = [unaware]
    _get(transport)

    assert aware.seen == [
        ("before", "Light", "b2"),
        ("after", "Light", "b2"),
        ("before", "Light", None),
        ("after", "Light", None),
    ]
    assert [step[0] for step in unaware.seen] == ["before", "after"]


def test_hooks_see_a_request_that_failed_in_transit(adapter: ScriptedAdapter) -> None:
    """It may have reached the platform: the limiter must still settle its slot."""
    hook = _Recorder()
    transport = HttpTransport(BASE_URL, 1.0, session_with(adapter), hooks=[hook])
    adapter.fail(requests.ConnectionError("reset"))

    with pytest.raises(NetworkError):
        _get(transport)

    assert hook.seen == [("before", "Light"), ("after", "Light", "NetworkError", None)]


@pytest.mark.parametrize(("value", "expected"), [("12", 12.0), ("1.5", 1.5), ("-3", 0.0)])
def test_retry_after_in_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value) == expected


def test_retry_after_as_an_http_date() -> None:
    when = datetime(2030, 1, 1, 0, 0, 40, tzinfo=UTC)

    seconds = parse_retry_after(format_datetime(when, usegmt=True), now=when.timestamp() - 40)

    assert seconds == 40.0


@pytest.mark.parametrize("value", [None, "", "soon"])
def test_unreadable_retry_after_is_none(value: str | None) -> None:
    assert parse_retry_after(value) is None


def _multipart(*parts: str, boundary: str = "Boundary_1_2_3") -> tuple[str, bytes]:
    chunks = [f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{part}\r\n" for part in parts]
    return f"multipart/mixed; boundary={boundary}", (
        "".join(chunks) + f"--{boundary}--\r\n"
    ).encode()


def test_a_207_batch_is_split_into_its_items(
    adapter: ScriptedAdapter, transport: HttpTransport
) -> None:
    content_type, body = _multipart(
        '{"response": [{"status": 200}, {"status": 404}]}',
        '{"id": "p1", "firstName": "John"}',
        '{"errorCode": "CMN-102", "message": "not found"}',
    )
    adapter.reply(207, raw=body, headers={"Content-Type": content_type, **LIGHT})

    answer = transport.request("GET", "/restapi/v1.0/glip/persons/p1,p2", group="Light")

    assert answer == [
        {"id": "p1", "firstName": "John"},
        {"errorCode": "CMN-102", "message": "not found"},
    ]
    assert transport.last_rate_limit is not None


def test_multipart_parts_keep_unicode() -> None:
    content_type, body = _multipart('{"response": [{"status": 200}]}', '{"name": "Zoë ☃ 東京"}')

    assert parse_multipart(content_type, body) == [{"name": "Zoë ☃ 東京"}]


def test_a_207_that_is_not_multipart_is_a_server_error() -> None:
    with pytest.raises(ServerError):
        parse_multipart("application/json", b"{}")


def test_the_environments_proxy_and_ca_bundle_are_read_once_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    _without_proxy_settings(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))

    transport = HttpTransport("http://platform.example", 5.0)
    monkeypatch.setenv("HTTP_PROXY", "http://changed.example:1")

    assert transport.session.proxies == {"http": "http://proxy.example:3128"}
    assert transport.session.verify == str(bundle)
    assert transport.session.trust_env is False


def test_no_proxy_for_the_platforms_host_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    _without_proxy_settings(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "platform.example")

    transport = HttpTransport("http://platform.example", 5.0)

    assert "http" not in transport.session.proxies


def _without_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """None of the machine's own proxy or CA settings (either case) in the way."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
