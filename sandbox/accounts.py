"""Accounts and the people (user and bot extensions) in them.

Every person belongs to exactly one account. The seed's people form the seed
account (the seed's ``company.id``); each installation adds an account with
its bot and people (:mod:`sandbox.installations`). A person sees only the
people and chats of their own account (the Glip endpoints enforce it).

New account and person ids continue the seed's numbering (accounts from the
seed company's id + 1, persons after the seed's highest person id) and keep
increasing across resets, as every other id of the sandbox.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from sandbox.seed import Seed, SeedPerson

#: The first extension number of a new account (its bot gets it; people follow).
FIRST_EXTENSION = 100


@dataclass
class Account:
    """One RingCentral account (a company): its id, name and main number."""

    id: str
    name: str
    main_number: str = ""
    #: The extension number the next person of this account gets.
    next_extension: int = FIRST_EXTENSION
    #: Person ids of the account, in the order they were added (a dict keeps it, O(1) removal).
    members: dict[str, None] = field(default_factory=dict)


def _digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


class Directory:
    """Every account and person of the sandbox, indexed by id and email."""

    def __init__(self, seed: Seed) -> None:
        highest_person = max((int(p.id) for p in seed.persons), default=400000000)
        company = int(seed.company_id) if seed.company_id.isdigit() else 300000000
        self._account_ids = itertools.count(company + 1)
        self._person_ids = itertools.count(highest_person + 1)
        self.reset(seed)

    def reset(self, seed: Seed) -> None:
        """Back to the seed account and its people (ids already given out stay used)."""
        numbers = [int(p.extension_number) for p in seed.persons if p.extension_number.isdigit()]
        self.accounts: dict[str, Account] = {}
        self.persons: dict[str, SeedPerson] = {}
        self._by_email: dict[str, SeedPerson] = {}
        self.add_account(
            Account(
                seed.company_id,
                seed.company_name,
                seed.main_number,
                next_extension=max(numbers, default=FIRST_EXTENSION) + 1,
            )
        )
        for person in seed.persons:
            self.add_person(person)

    # ids

    def new_account_id(self) -> str:
        """An account id never given out before."""
        return str(next(self._account_ids))

    def new_person_id(self) -> str:
        """A person (extension) id never given out before."""
        return str(next(self._person_ids))

    # changes

    def add_account(self, account: Account) -> Account:
        """Register an account (its id must be new)."""
        if account.id in self.accounts:
            raise ValueError(f"account {account.id} exists")
        self.accounts[account.id] = account
        return account

    def add_person(self, person: SeedPerson) -> SeedPerson:
        """Register a person in their (existing) account; id and email must be free."""
        account = self.accounts[person.account_id]
        if person.id in self.persons or person.email in self._by_email:
            raise ValueError(f"person {person.id} <{person.email}> exists")
        self.persons[person.id] = person
        self._by_email[person.email] = person
        account.members[person.id] = None
        return person

    def remove_person(self, person_id: str) -> SeedPerson | None:
        """Forget a person (a removed extension); the id is never given out again."""
        person = self.persons.pop(person_id, None)
        if person is None:
            return None
        self._by_email.pop(person.email, None)
        self.accounts[person.account_id].members.pop(person_id, None)
        return person

    # lookups

    def person(self, person_id: str) -> SeedPerson | None:
        """The person with this id, or None."""
        return self.persons.get(person_id)

    def person_by_email(self, email: str) -> SeedPerson | None:
        """The person with this email (case-insensitive), or None."""
        return self._by_email.get(email.strip().lower())

    def account(self, account_id: str) -> Account | None:
        """The account with this id, or None."""
        return self.accounts.get(account_id)

    def members(self, account_id: str) -> Iterator[SeedPerson]:
        """The account's people and bots, in the order they were added."""
        account = self.accounts.get(account_id)
        for person_id in account.members if account is not None else ():
            yield self.persons[person_id]

    def same_account(self, a: str, b: str) -> bool:
        """Whether two known persons belong to the same account."""
        pa, pb = self.persons.get(a), self.persons.get(b)
        return pa is not None and pb is not None and pa.account_id == pb.account_id

    def find_login(self, username: str, extension: str) -> SeedPerson | None:
        """The person a password grant names: an email, a person's own phone number, or an
        account's main number with ``extension``."""
        if "@" in username:
            return self.person_by_email(username)
        number = _digits(username)
        if not number:
            return None
        if extension:
            for account in self.accounts.values():
                if account.main_number and _digits(account.main_number) == number:
                    found = (p for p in self.members(account.id) if p.extension_number == extension)
                    return next(found, None)
        for p in self.persons.values():
            if p.phone_number and _digits(p.phone_number) == number:
                return p
        return None
