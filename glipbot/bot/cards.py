"""Card attachments, the platform's rich message (PLATFORM.md §3)::

    {type: "Card", fallback, color, intro, author{name, uri, iconUri}, title, text,
     imageUri, thumbnailUri, fields: [{title, value, style}], footnote{text, iconUri, time}}

Only the keys given are written, so a card stays as small as its content.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

#: ``Short`` fields sit side by side; ``Long`` fields take the whole width.
FieldStyle = Literal["Short", "Long"]
Field = tuple[str, str] | tuple[str, str, FieldStyle]


def card(
    *,
    title: str | None = None,
    text: str | None = None,
    fields: Iterable[Field] = (),
    color: str | None = None,
    footnote: str | None = None,
    intro: str | None = None,
    fallback: str | None = None,
    author: str | None = None,
    image_uri: str | None = None,
) -> dict[str, Any]:
    """Build a Card attachment dict.

    ``fields`` are ``(title, value)`` or ``(title, value, style)`` tuples, the
    style defaulting to ``"Short"``. ``fallback`` (shown by clients that cannot
    render cards) defaults to the title, then the text.
    """
    out: dict[str, Any] = {"type": "Card"}
    fallback = fallback or title or text
    optional = {
        "fallback": fallback,
        "color": color,
        "intro": intro,
        "title": title,
        "text": text,
        "imageUri": image_uri,
    }
    out.update({key: value for key, value in optional.items() if value})
    if author:
        out["author"] = {"name": author}
    built = [_field(f) for f in fields]
    if built:
        out["fields"] = built
    if footnote:
        out["footnote"] = {"text": footnote}
    return out


def _field(spec: Field) -> dict[str, str]:
    if len(spec) == 2:
        title, value = spec
        style: str = "Short"
    else:
        title, value, style = spec
    if style not in ("Short", "Long"):
        raise ValueError(f"field style must be Short or Long, not {style!r}")
    return {"title": title, "value": value, "style": style}
