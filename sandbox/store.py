"""The in-memory people, chats and posts of the sandbox (ids are strings of digits).

The store applies the platform's rules (who may see and change what) and
returns plain JSON-ready dicts shaped as the OpenAPI spec's responses. It
knows nothing of HTTP. Ids keep increasing across resets, so an id seen
before a reset never names a different object after it. People and their
accounts are in :attr:`Store.directory` (:mod:`sandbox.accounts`); each
person's chats are indexed, so nothing scans every chat of the sandbox.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from sandbox.accounts import Directory
from sandbox.clock import Clock, iso
from sandbox.seed import Seed, SeedPerson

GROUP_TYPES = ("PrivateChat", "Group", "Team", "PersonalChat")
_MENTION = re.compile(r"!\[:(Person|Team)\]\(([^)\s]+)\)")
_FIRST_GROUP_ID = 600000001
_FIRST_POST_ID = 700000001


@dataclass
class Group:
    """A chat: PrivateChat (exactly two members) or Team (any number)."""

    id: str
    type: str
    members: list[str]
    created: float
    modified: float
    name: str = ""
    description: str = ""
    is_public: bool = False

    def to_json(self) -> dict[str, Any]:
        """The Group object of the spec (``name`` and ``description`` only when set)."""
        out: dict[str, Any] = {"id": self.id, "type": self.type, "isPublic": self.is_public}
        if self.name:
            out["name"] = self.name
        if self.description:
            out["description"] = self.description
        out["members"] = list(self.members)
        out["creationTime"] = iso(self.created)
        out["lastModifiedTime"] = iso(self.modified)
        return out


@dataclass
class Post:
    """A message in a chat; ``extra`` keeps optional fields such as ``title``."""

    id: str
    group_id: str
    creator_id: str
    text: str
    created: float
    modified: float
    attachments: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[dict[str, str]] = field(default_factory=list)
    type: str = "TextMessage"
    added_person_ids: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The Post object of the spec."""
        out: dict[str, Any] = {
            "id": self.id,
            "groupId": self.group_id,
            "type": self.type,
            "text": self.text,
            "creatorId": self.creator_id,
            "addedPersonIds": list(self.added_person_ids),
            "mentions": [dict(m) for m in self.mentions],
            "attachments": [dict(a) for a in self.attachments],
            "creationTime": iso(self.created),
            "lastModifiedTime": iso(self.modified),
        }
        out.update(self.extra)
        return out


class Store:
    """Persons and accounts (:attr:`directory`), groups and posts."""

    def __init__(self, seed: Seed, clock: Clock) -> None:
        self._clock = clock
        self._group_ids = itertools.count(_FIRST_GROUP_ID)
        self._post_ids = itertools.count(_FIRST_POST_ID)
        self._attachment_ids = itertools.count(800000001)
        self.directory = Directory(seed)
        self.reset(seed)

    def reset(self, seed: Seed) -> None:
        """Back to the seed's account, persons and groups, with no posts."""
        self.seed = seed
        self._started = self._clock()
        self.directory.reset(seed)
        self._joined: dict[str, float] = {}  # person id -> when added after the seed
        self.groups: dict[str, Group] = {}
        self.posts: dict[str, list[Post]] = {}  # group id -> oldest first
        self._chats_of: dict[str, dict[str, None]] = {}  # person id -> their group ids
        for g in seed.groups:
            self._index(
                Group(
                    id=g.id,
                    type=g.type,
                    members=list(g.members),
                    created=self._started,
                    modified=self._started,
                    name=g.name,
                    description=g.description,
                    is_public=g.is_public,
                )
            )

    # persons

    @property
    def persons(self) -> dict[str, SeedPerson]:
        """Every person by id (the directory's)."""
        return self.directory.persons

    def person(self, person_id: str) -> SeedPerson | None:
        """The person with this id, or None."""
        return self.directory.person(person_id)

    def person_by_email(self, email: str) -> SeedPerson | None:
        """The person with this email (case-insensitive), or None."""
        return self.directory.person_by_email(email)

    def add_person(self, person: SeedPerson) -> SeedPerson:
        """Add a person to their account (an installation's bot or people)."""
        self._joined[person.id] = self._clock()
        return self.directory.add_person(person)

    def remove_person(self, person_id: str) -> SeedPerson | None:
        """Remove a person (an uninstalled bot); their chats and posts stay as they are."""
        self._joined.pop(person_id, None)
        return self.directory.remove_person(person_id)

    def person_json(self, person: SeedPerson) -> dict[str, Any]:
        """The Person object of the spec: never the password or the birthday."""
        since = self._joined.get(person.id, self._started)
        return {
            "id": person.id,
            "firstName": person.first_name,
            "lastName": person.last_name,
            "email": person.email,
            "companyId": person.account_id,
            "creationTime": iso(since),
            "lastModifiedTime": iso(since),
        }

    def display_name(self, person_id: str) -> str:
        """``First Last`` of a person, or the id when unknown."""
        p = self.persons.get(person_id)
        return f"{p.first_name} {p.last_name}".strip() if p else person_id

    # groups

    def visible_group(self, group_id: str, caller: str) -> Group | None:
        """The group if ``caller`` is a member (others' chats are invisible), else None."""
        group = self.groups.get(group_id)
        return group if group is not None and group_id in self._chats_of.get(caller, ()) else None

    def groups_of(self, caller: str, types: set[str] | None = None) -> list[Group]:
        """The caller's groups, newest first, optionally only of some types."""
        found = [
            g
            for g in (self.groups[gid] for gid in self._chats_of.get(caller, ()))
            if not types or g.type in types
        ]
        return sorted(found, key=lambda g: int(g.id), reverse=True)

    def find_private_chat(self, a: str, b: str) -> Group | None:
        """The PrivateChat between two persons, if it exists."""
        for g in self.groups_of(a, {"PrivateChat"}):
            if set(g.members) == {a, b}:
                return g
        return None

    def create_group(
        self,
        type_: str,
        members: list[str],
        *,
        name: str = "",
        description: str = "",
        is_public: bool = False,
    ) -> Group:
        """Create a group with these members (in this order, no duplicates)."""
        now = self._clock()
        group = Group(
            id=str(next(self._group_ids)),
            type=type_,
            members=list(dict.fromkeys(members)),
            created=now,
            modified=now,
            name=name,
            description=description,
            is_public=is_public,
        )
        return self._index(group)

    def _index(self, group: Group) -> Group:
        self.groups[group.id] = group
        self.posts[group.id] = []
        for person in group.members:
            self._chats_of.setdefault(person, {})[group.id] = None
        return group

    def change_members(
        self, group: Group, added: list[str], removed: list[str]
    ) -> tuple[list[str], list[str]]:
        """Add then remove members; return who was really added and removed."""
        really_added = [p for p in dict.fromkeys(added) if p not in group.members]
        group.members.extend(really_added)
        really_removed = [p for p in dict.fromkeys(removed) if p in group.members]
        group.members[:] = [m for m in group.members if m not in really_removed]
        for person in really_added:
            self._chats_of.setdefault(person, {})[group.id] = None
        for person in really_removed:
            self._chats_of.get(person, {}).pop(group.id, None)
        if really_added or really_removed:
            group.modified = self._clock()
        return really_added, really_removed

    # posts

    def add_post(
        self,
        group: Group,
        creator: str,
        text: str,
        attachments: list[dict[str, Any]],
        extra: dict[str, str],
    ) -> Post:
        """Store a TextMessage post; mentions are parsed from ``![:Person](id)`` markup."""
        stored = [{"id": str(next(self._attachment_ids)), **a} for a in attachments]
        now = self._clock()
        post = Post(
            id=str(next(self._post_ids)),
            group_id=group.id,
            creator_id=creator,
            text=text,
            created=now,
            modified=now,
            attachments=stored,
            mentions=self._mentions(text),
            extra=extra,
        )
        self.posts[group.id].append(post)
        return post

    def posts_of(self, group: Group) -> list[Post]:
        """The group's posts, newest first."""
        return list(reversed(self.posts[group.id]))

    def find_post(self, group: Group, post_id: str) -> Post | None:
        """The post with this id in this group (a post of another group is not found)."""
        return next((p for p in self.posts[group.id] if p.id == post_id), None)

    def edit_post(self, post: Post, text: str) -> Post:
        """Replace a post's text; its mentions are parsed again and it is marked modified."""
        post.text = text
        post.mentions = self._mentions(text)
        post.modified = self._clock()
        return post

    def remove_post(self, post: Post) -> None:
        """Delete a post from its group."""
        self.posts[post.group_id].remove(post)

    def _mentions(self, text: str) -> list[dict[str, str]]:
        found: dict[tuple[str, str], dict[str, str]] = {}
        for kind, target in _MENTION.findall(text):
            if kind == "Person":
                name = self.display_name(target)
            else:
                team = self.groups.get(target)
                name = team.name if team else target
            found.setdefault((kind, target), {"id": target, "type": kind, "name": name})
        return list(found.values())
