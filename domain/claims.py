"""Uniqueness in an event-sourced model: one aggregate per claimed key.

A name (a user's name in a domain, a role's name, an idempotency key) is
claimed by creating an aggregate whose id is derived from the key. Two
concurrent claims both try to write version 1 of the same aggregate in the
same transaction as the resource itself, so exactly one of them commits —
the database's primary key is the lock, and no read model is trusted for it.
"""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict

CLAIM_NAMESPACE = uuid.UUID("6b1f0f3e-0d8e-4c55-9d57-6e0c3f8f2a10")


def claim_id(kind: str, scope: str, key: str) -> uuid.UUID:
    return uuid.uuid5(CLAIM_NAMESPACE, f"{kind}\x1f{scope}\x1f{key}")


class NameClaim(Aggregate):
    """Who holds a unique name; released claims can be taken again."""

    class Created(Aggregate.Created):
        class_version = 1
        kind: str
        scope: str
        key: str
        owner_id: uuid.UUID

    @event(Created)
    def __init__(self, kind: str, scope: str, key: str, owner_id: uuid.UUID) -> None:
        self.kind = kind
        self.scope = scope
        self.key = key
        self.owner_id: uuid.UUID | None = owner_id

    @classmethod
    def create_id(cls, kind: str, scope: str, key: str, **_: Any) -> uuid.UUID:
        return claim_id(kind, scope, key)

    class Taken(Aggregate.Event):
        class_version = 1
        owner_id: uuid.UUID

    class Released(Aggregate.Event):
        class_version = 1

    def take(self, owner_id: uuid.UUID, what: str) -> None:
        if self.owner_id == owner_id:
            return
        if self.owner_id is not None:
            raise Conflict(f"Duplicate entry: {what} '{self.key}' already exists.")
        self._take(owner_id)

    @event(Taken)
    def _take(self, owner_id: uuid.UUID) -> None:
        self.owner_id = owner_id

    def release(self, owner_id: uuid.UUID) -> None:
        if self.owner_id == owner_id:
            self._release()

    @event(Released)
    def _release(self) -> None:
        self.owner_id = None
