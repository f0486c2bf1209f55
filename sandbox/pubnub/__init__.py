"""A PubNub stand-in that the real, unmodified `pubnub` SDK talks to.

`PubNubHub` holds channels and retained messages and offers delivery
controls (pause, resume, duplicate, reset); `make_app` serves the PubNub
HTTP protocol over a hub with aiohttp.
"""

from sandbox.pubnub.hub import PubNubHub, RecordedRequest
from sandbox.pubnub.protocol import HUB_KEY, make_app

__all__ = ["HUB_KEY", "PubNubHub", "RecordedRequest", "make_app"]
