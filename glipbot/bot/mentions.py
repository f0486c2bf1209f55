"""Mention markup: ``![:Person](personId)`` and ``![:Team](teamId)`` inside post text."""

from __future__ import annotations

import re

from glipbot.events import Post

_MARKUP = re.compile(r"!\[:(?P<kind>Person|Team)\]\((?P<id>[^)\s]+)\)")
_SPACES = re.compile(r"\s+")


def strip_mentions(text: str) -> str:
    """Remove every mention markup and collapse whitespace, so handlers match plain words."""
    return normalize_whitespace(_MARKUP.sub(" ", text))


def normalize_whitespace(text: str) -> str:
    """Collapse runs of whitespace (newlines included) into one space and trim the ends."""
    return _SPACES.sub(" ", text).strip()


def mentioned_person_ids(text: str) -> frozenset[str]:
    """The person ids that ``text`` mentions through markup."""
    return frozenset(m["id"] for m in _MARKUP.finditer(text) if m["kind"] == "Person")


def mentions_person(post: Post, person_id: str) -> bool:
    """Whether ``post`` mentions ``person_id``, through ``mentions`` or through the markup.

    Both are checked: the platform lists mentions in ``mentions``, but a client
    may only write the markup, and the markup is what people see.
    """
    if any(m.id == person_id and m.type != "Team" for m in post.mentions):
        return True
    return person_id in mentioned_person_ids(post.text)
