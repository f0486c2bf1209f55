"""The card builder writes PLATFORM.md's Card attachment shape."""

from __future__ import annotations

import pytest

from glipbot.bot import card

#: PLATFORM.md §3: the keys of a Card attachment.
CARD_KEYS = {
    "type", "fallback", "color", "intro", "author", "title", "text",
    "imageUri", "thumbnailUri", "fields", "footnote",
}  # fmt: skip


def test_a_full_card_has_the_platform_shape() -> None:
    built = card(
        title="Flight UA 1532",
        text="New York → San Francisco",
        fields=[("From", "JFK 08:15"), ("Date", "Saturday, May 6, 2017", "Long")],
        color="#0073AE",
        footnote="Booked by SmartFriend",
        intro="Here you go",
        author="SmartFriend",
    )
    assert set(built) <= CARD_KEYS
    assert built == {
        "type": "Card",
        "fallback": "Flight UA 1532",
        "color": "#0073AE",
        "intro": "Here you go",
        "author": {"name": "SmartFriend"},
        "title": "Flight UA 1532",
        "text": "New York → San Francisco",
        "fields": [
            {"title": "From", "value": "JFK 08:15", "style": "Short"},
            {"title": "Date", "value": "Saturday, May 6, 2017", "style": "Long"},
        ],
        "footnote": {"text": "Booked by SmartFriend"},
    }


def test_a_minimal_card_only_writes_what_it_has() -> None:
    assert card(text="hi") == {"type": "Card", "fallback": "hi", "text": "hi"}


def test_an_unknown_field_style_is_refused() -> None:
    with pytest.raises(ValueError, match="Short or Long"):
        card(fields=[("a", "b", "Wide")])  # type: ignore[list-item]
