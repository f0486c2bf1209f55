"""The WebSocket transport's pure parts: frames, the checkpoint's progress, URLs, answers."""

from __future__ import annotations

import json

import pytest

from glipbot.errors import BadRequestError, RateLimitedError, ServerError
from listener.transports.websocket import frames
from listener.transports.websocket.checkpoint import Checkpoint, Progress
from listener.transports.websocket.frames import Frame, FrameError, Wsc
from listener.transports.websocket.socket import ConnectionDetails, answer_error, gateway_url


def test_a_frame_is_read_with_its_header_body_and_wsc() -> None:
    frame = frames.parse(
        json.dumps(
            [
                {
                    "type": "ServerNotification",
                    "messageId": "m1",
                    "status": 200,
                    "wsc": {"token": "T", "sequence": 7},
                },
                {"uuid": "u1"},
            ]
        )
    )
    assert frame.type == frames.SERVER_NOTIFICATION
    assert frame.message_id == "m1"
    assert frame.status == 200
    assert frame.wsc == Wsc("T", 7)
    assert frame.body == {"uuid": "u1"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "not_json"),
        ('[{"type":"ClientRequest"},--Boundary_1\r\n', "not_json"),
        ('{"type": "Heartbeat"}', "not_a_frame"),
        ("[]", "not_a_frame"),
        ("[1, 2, 3]", "not_a_frame"),
        ('["header"]', "bad_header"),
    ],
)
def test_what_is_not_a_frame_is_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(FrameError) as caught:
        frames.parse(text)
    assert caught.value.reason == reason


def test_client_frames_omit_an_absent_body_never_send_null() -> None:
    message_id, text = frames.client_request("DELETE", "/restapi/v1.0/subscription/1")
    assert json.loads(text) == [
        {
            "type": "ClientRequest",
            "messageId": message_id,
            "method": "DELETE",
            "path": "/restapi/v1.0/subscription/1",
        }
    ]
    _, with_body = frames.client_request("POST", "/p", {"a": 1})
    assert json.loads(with_body)[1] == {"a": 1}
    beat = json.loads(frames.heartbeat())
    assert len(beat) == 1
    assert beat[0]["type"] == "Heartbeat"
    assert beat[0]["messageId"]


def test_an_unusable_wsc_is_ignored() -> None:
    assert Frame({"wsc": {"sequence": 1}}).wsc is None
    assert Frame({"wsc": "T"}).wsc is None
    assert Frame({"wsc": {"token": "T", "sequence": "x"}}).wsc is None


def test_error_codes_are_read_from_gateway_and_rest_bodies() -> None:
    assert Frame({}, {"errorCode": "WSG-808"}).error_code() == "WSG-808"
    assert Frame({}, {"errors": [{"errorCode": "SUB-528"}]}).error_code() == "SUB-528"
    assert Frame({}, None).error_code() is None


def test_answers_map_to_the_platforms_errors() -> None:
    ok = Frame({"type": "ClientRequest", "status": 200})
    assert answer_error(ok, "x") is None
    limited = answer_error(
        Frame({"type": "ClientRequest", "status": 429, "headers": {"Retry-After": "7"}}), "x"
    )
    assert isinstance(limited, RateLimitedError)
    assert limited.retry_after == 7
    assert isinstance(
        answer_error(Frame({"type": "ClientRequest", "status": 503}), "x"), ServerError
    )
    refused = answer_error(Frame({"type": "Error", "status": 403}, {"errorCode": "SUB-528"}), "x")
    assert isinstance(refused, BadRequestError)
    assert refused.error_code == "SUB-528"
    # A 2xx that came back typed Error is still a failure.
    assert answer_error(Frame({"type": "Error", "status": 200}), "x") is not None


def test_connection_details_read_the_limits_and_fall_back_to_the_documented_defaults() -> None:
    details = ConnectionDetails.from_frame(
        Frame(
            {"type": "ConnectionDetails"},
            {
                "recoveryState": "Failed",
                "recoveryErrorCode": "WSG-1005",
                "idleTimeout": 3,
                "absoluteTimeout": "bad",
                "recoveryTimeout": 0,
            },
        )
    )
    assert details.recovery_state == "Failed"
    assert details.recovery_error_code == "WSG-1005"
    assert details.idle_timeout == 3
    assert details.absolute_timeout == 86400
    assert details.recovery_timeout == 180
    assert details.recovery_buffer_size == 100


def test_the_gateway_url_carries_the_token_and_the_wsc_encoded() -> None:
    assert gateway_url("ws://h:1/ws", "a+b", None) == "ws://h:1/ws?access_token=a%2Bb"
    assert gateway_url("wss://h/ws?x=1", "t", "w/=") == "wss://h/ws?x=1&access_token=t&wsc=w%2F%3D"


def test_progress_holds_back_every_wsc_after_an_unwritten_notification() -> None:
    progress = Progress()
    assert progress.frame(Wsc("a", 1), notification=False, at=1.0) == 1  # subscribe answer
    n1 = progress.frame(Wsc("b", 2), notification=True, at=2.0)
    progress.frame(Wsc("c", 3), notification=False, at=3.0)  # heartbeat answer
    n2 = progress.frame(Wsc("d", 4), notification=True, at=4.0)
    assert progress.safe(None) == (Wsc("a", 1), 1.0)
    assert progress.safe(None) is None  # nothing new is safe yet
    assert progress.safe(n1) == (Wsc("c", 3), 3.0)
    assert progress.safe(n2) == (Wsc("d", 4), 4.0)
    assert progress.safe(n2) is None


def test_progress_positions_never_restart() -> None:
    progress = Progress()
    first = progress.frame(None, notification=True, at=0.0)
    assert progress.frame(None, notification=True, at=0.0) == first + 1


def test_a_checkpoint_round_trips_and_a_bad_one_is_refused() -> None:
    checkpoint = Checkpoint("T", 3, None, 12.5, "a")
    assert Checkpoint.from_json(checkpoint.to_json()) == checkpoint
    with pytest.raises(KeyError):
        Checkpoint.from_json('{"wsc": "T"}')
