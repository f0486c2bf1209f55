"""The gateway's pure protocol parts: wsc tokens, client frames, the paths REST may take."""

from __future__ import annotations

import json

import pytest

from sandbox.websocket import errors, frames
from sandbox.websocket.proxy import check_path
from sandbox.websocket.wsc import MalformedWsc, WscCodec


def test_wsc_round_trips_and_changes_with_the_sequence() -> None:
    """A token encodes (session, sequence); each sequence has its own token."""
    codec = WscCodec(b"k" * 32)
    first, second = codec.encode("s1", 1), codec.encode("s1", 2)
    assert first != second
    assert (codec.decode(first), codec.decode(second)) == (("s1", 1), ("s1", 2))


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b", "no-dot-at-all", "ÿ.ÿ"],
)
def test_wsc_rejects_what_it_did_not_sign(token: str) -> None:
    """Anything that is not ours is malformed."""
    with pytest.raises(MalformedWsc):
        WscCodec().decode(token)


def test_wsc_rejects_an_altered_or_foreign_token() -> None:
    """Another secret, or a changed payload under the old signature: malformed."""
    ours, theirs = WscCodec(b"a" * 32), WscCodec(b"b" * 32)
    token = ours.encode("session", 7)
    with pytest.raises(MalformedWsc):
        theirs.decode(token)
    _, _, mac = token.partition(".")
    altered = ours.encode("session", 8).partition(".")[0] + "." + mac
    with pytest.raises(MalformedWsc):
        ours.decode(altered)


def test_a_client_request_is_parsed_with_query_headers_and_body() -> None:
    """Method upper-cased, query values as strings (lists repeat), the body kept."""
    text = json.dumps(
        [
            {
                "type": "ClientRequest",
                "messageId": "m",
                "method": "post",
                "path": "/restapi/v1.0/glip/posts",
                "query": {"a": 1, "b": [True, "x"], "c": None},
                "headers": {"X-Test": "1"},
            },
            {"text": "hi"},
        ]
    )
    assert frames.parse(text) == frames.ClientRequest(
        "m",
        "POST",
        "/restapi/v1.0/glip/posts",
        [("a", "1"), ("b", "true"), ("b", "x")],
        {"X-Test": "1"},
        {"text": "hi"},
    )


def test_no_body_element_and_an_empty_string_body_are_both_no_body() -> None:
    """A missing element is no body; .NET's "" is read the same way."""
    header = {"type": "ClientRequest", "messageId": "m", "method": "DELETE", "path": "/restapi/x"}
    for text in (json.dumps([header]), json.dumps([header, ""])):
        parsed = frames.parse(text)
        assert isinstance(parsed, frames.ClientRequest)
        assert parsed.body is frames.NO_BODY


def test_a_heartbeat_keeps_its_message_id() -> None:
    assert frames.parse('[{"type":"Heartbeat","messageId":"h"}]') == frames.Heartbeat("h")
    assert frames.parse('[{"type":"Heartbeat"}]') == frames.Heartbeat(None)


@pytest.mark.parametrize(
    ("text", "code", "message_id"),
    [
        ("{", errors.NOT_JSON, None),
        ('{"type":"Heartbeat"}', errors.NOT_A_FRAME, None),
        ("[]", errors.NOT_A_FRAME, None),
        ("[1, 2]", errors.NOT_A_FRAME, None),
        ('[{"type":"Heartbeat"}, {}, {}]', errors.NOT_A_FRAME, None),
        ('[{"type":"Nope","messageId":"m"}]', errors.UNKNOWN_TYPE, "m"),
        (
            '[{"type":"ClientRequest","messageId":"m","method":"GET","path":"/x"}, null]',
            errors.NULL_BODY,
            "m",
        ),
        ('[{"type":"Heartbeat","messageId":"h"}, null]', errors.NULL_BODY, "h"),
        ('[{"type":"ClientRequest","method":"GET","path":"/x"}]', errors.BAD_REQUEST, None),
        (
            '[{"type":"ClientRequest","messageId":"m","method":"FETCH","path":"/x"}]',
            errors.BAD_REQUEST,
            "m",
        ),
        (
            '[{"type":"ClientRequest","messageId":"m","method":"GET","path":"x"}]',
            errors.BAD_REQUEST,
            "m",
        ),
        (
            '[{"type":"ClientRequest","messageId":"m","method":"GET","path":"/x","query":[]}]',
            errors.BAD_REQUEST,
            "m",
        ),
        (
            '[{"type":"ClientRequest","messageId":"m","method":"GET","path":"/x","headers":{"a":1}}]',
            errors.BAD_REQUEST,
            "m",
        ),
    ],
)
def test_bad_frames_raise_their_code_with_the_message_id(
    text: str, code: str, message_id: str | None
) -> None:
    """Each bad frame names its fault; the request's messageId is kept when there is one."""
    with pytest.raises(errors.FrameError) as caught:
        frames.parse(text)
    assert (caught.value.code, caught.value.message_id, caught.value.status) == (
        code,
        message_id,
        400,
    )
    assert caught.value.body()["errorCode"] == code


def test_encode_leaves_out_a_missing_body() -> None:
    assert frames.encode({"type": "Heartbeat"}) == '[{"type":"Heartbeat"}]'
    assert frames.encode({"type": "X"}, {"a": 1}) == '[{"type":"X"},{"a":1}]'


@pytest.mark.parametrize(
    "path",
    [
        "/restapi/v1.0/glip/posts",
        "/restapi/v1.0/subscription/",
        "/restapi/v1.0/glip/posts?groupId=1",
        "/restapi/v1.0/account/~/extension/~",
    ],
)
def test_api_paths_may_be_called_over_the_socket(path: str) -> None:
    check_path(path, "m")


@pytest.mark.parametrize(
    "path",
    [
        "/restapi/oauth/token",
        "/restapi/oauth/wstoken",
        "/restapi//oauth/revoke",
        "/restapi/v1.0/../oauth/token",
        "/restapi/v1.0/%2e%2e/oauth/token",
        "/restapi/v1.0/./glip/posts",
        "/sandbox/reset",
        "/ws",
        "/",
    ],
)
def test_oauth_and_other_paths_are_refused(path: str) -> None:
    with pytest.raises(errors.FrameError) as caught:
        check_path(path, "m")
    assert (caught.value.code, caught.value.message_id) == (errors.PATH_NOT_ALLOWED, "m")
