"""RingCentral's batch answer: 207 ``multipart/mixed`` for a request naming several ids.

The first part is ``{"response": [{"status": 200}, {"status": 404}, ...]}``;
then one ``application/json`` part per id, in the order asked, holding the
object or its error body.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from aiohttp import web


def multipart_response(parts: list[tuple[int, dict[str, Any]]]) -> web.Response:
    """A 207 answer of (status, JSON body) parts."""
    boundary = f"Boundary_{secrets.token_hex(8)}"
    summary = {"response": [{"status": status} for status, _ in parts]}
    chunks = []
    for body in [summary, *(body for _, body in parts)]:
        chunks.append(
            f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{json.dumps(body)}\r\n"
        )
    chunks.append(f"--{boundary}--\r\n")
    return web.Response(
        status=207,
        body="".join(chunks).encode("utf-8"),
        headers={"Content-Type": f"multipart/mixed; boundary={boundary}"},
    )


def parse_multipart(content_type: str, body: bytes) -> list[Any]:
    """Split a batch answer into its JSON parts (the summary first); for tests and clients."""
    marker = "boundary="
    boundary = content_type[content_type.index(marker) + len(marker) :].split(";")[0].strip('"')
    parts = []
    for chunk in body.decode("utf-8").split(f"--{boundary}"):
        chunk = chunk.strip()
        if not chunk or chunk == "--":
            continue
        _headers, _, payload = chunk.partition("\r\n\r\n")
        parts.append(json.loads(payload))
    return parts
