"""The account a sandbox starts with (and returns to on reset), read from JSON.

The default file is ``sandbox/seed.json``; ``--seed FILE`` replaces it. Shape::

    {"app": {"clientId", "clientSecret"},
     "company": {"id", "name"?, "mainNumber"?},
     "persons": [{"id", "firstName", "lastName", "email", "password",
                  "extensionNumber"?, "phoneNumber"?, "birthday"? (MM-DD), "bot"?}],
     "botTokens": [{"personId", "token"}],
     "groups": [{"id", "type", "members": [id], "name"?, "description"?,
                 "isPublic"?, "creatorId"?}]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class SeedError(ValueError):
    """The seed file is missing, not JSON, or inconsistent."""


@dataclass(frozen=True)
class SeedPerson:
    """A person (a user, or a bot extension) who can log in and chat, in one account.

    The seed's people belong to the seed's company; installations
    (:mod:`sandbox.installations`) make more of them in their own accounts.
    """

    id: str
    first_name: str
    last_name: str
    email: str
    password: str = field(repr=False)
    extension_number: str = ""
    phone_number: str = ""
    birthday: str = ""
    bot: bool = False
    #: The account (company) the person belongs to.
    account_id: str = ""


@dataclass(frozen=True)
class SeedGroup:
    """A chat that exists from the start."""

    id: str
    type: str
    members: tuple[str, ...]
    name: str = ""
    description: str = ""
    is_public: bool = False


@dataclass(frozen=True)
class Seed:
    """Everything a fresh or reset sandbox holds."""

    client_id: str
    client_secret: str = field(repr=False)
    company_id: str
    main_number: str
    persons: tuple[SeedPerson, ...]
    bot_tokens: dict[str, str] = field(repr=False)  # token -> person id
    groups: tuple[SeedGroup, ...] = ()
    company_name: str = ""


def load_seed(path: Path) -> Seed:
    """Read and check a seed file; raise :class:`SeedError` naming the problem."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SeedError(f"cannot read seed file {path}: {exc}") from exc
    try:
        return _parse(raw)
    except (KeyError, TypeError, AttributeError) as exc:
        raise SeedError(f"seed file {path} is malformed: missing or wrong {exc}") from exc


def _parse(raw: dict[str, Any]) -> Seed:
    company_id = str(raw["company"]["id"])
    persons = tuple(
        SeedPerson(
            id=str(p["id"]),
            first_name=str(p["firstName"]),
            last_name=str(p.get("lastName", "")),
            email=str(p["email"]).lower(),
            password=str(p["password"]),
            extension_number=str(p.get("extensionNumber", "")),
            phone_number=str(p.get("phoneNumber", "")),
            birthday=str(p.get("birthday", "")),
            bot=bool(p.get("bot", False)),
            account_id=company_id,
        )
        for p in raw["persons"]
    )
    ids = {p.id for p in persons}
    if len(ids) != len(persons) or not all(p.id.isdigit() for p in persons):
        raise SeedError("person ids must be unique strings of digits")
    tokens = {str(t["token"]): str(t["personId"]) for t in raw.get("botTokens", [])}
    groups = tuple(
        SeedGroup(
            id=str(g["id"]),
            type=str(g["type"]),
            members=tuple(str(m) for m in g["members"]),
            name=str(g.get("name", "")),
            description=str(g.get("description", "")),
            is_public=bool(g.get("isPublic", False)),
        )
        for g in raw.get("groups", [])
    )
    unknown = {pid for pid in tokens.values() if pid not in ids}
    unknown |= {m for g in groups for m in g.members if m not in ids}
    if unknown:
        raise SeedError(f"seed refers to unknown person ids {sorted(unknown)}")
    return Seed(
        client_id=str(raw["app"]["clientId"]),
        client_secret=str(raw["app"]["clientSecret"]),
        company_id=company_id,
        main_number=str(raw["company"].get("mainNumber", "")),
        company_name=str(raw["company"].get("name", "")),
        persons=persons,
        bot_tokens=tokens,
        groups=groups,
    )
