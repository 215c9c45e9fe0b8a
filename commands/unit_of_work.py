"""The aggregates one command touches, saved together or not at all."""

from __future__ import annotations

from typing import TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from commands.ports import AggregateStore
from domain.errors import NotFound

A = TypeVar("A", bound=Aggregate)


class UnitOfWork:
    def __init__(self, store: AggregateStore) -> None:
        self._store = store
        self._seen: dict[UUID, Aggregate] = {}
        self._loaded: set[UUID] = set()

    def get(self, cls: type[A], aggregate_id: UUID) -> A | None:
        """The aggregate, or None if it never existed or is deleted."""
        aggregate = self.get_any(cls, aggregate_id)
        if aggregate is None or getattr(aggregate, "deleted", False):
            return None
        return aggregate

    def get_any(self, cls: type[A], aggregate_id: UUID) -> A | None:
        """The aggregate even when deleted (for names and claims)."""
        seen = self._seen.get(aggregate_id)
        if seen is not None:
            return seen if isinstance(seen, cls) else None
        aggregate = self._store.get(cls, aggregate_id)
        if aggregate is not None:
            self._seen[aggregate_id] = aggregate
            self._loaded.add(aggregate_id)
        return aggregate

    def require(self, cls: type[A], aggregate_id: UUID | None, kind: str) -> A:
        aggregate = self.get(cls, aggregate_id) if aggregate_id is not None else None
        if aggregate is None:
            raise NotFound(kind, aggregate_id.hex if aggregate_id else None)
        return aggregate

    def add(self, aggregate: Aggregate) -> None:
        self._seen[aggregate.id] = aggregate

    def holds(self, aggregate_id: UUID) -> bool:
        """Whether this unit of work already loaded or added the aggregate."""
        return aggregate_id in self._seen

    def held(self, cls: type[A]) -> list[A]:
        """The aggregates of `cls` this unit of work loaded or added."""
        return [a for a in self._seen.values() if isinstance(a, cls)]

    def changed(self) -> list[Aggregate]:
        return [a for a in self._seen.values() if a.pending_events]

    def reads(self) -> list[Aggregate]:
        """The aggregates loaded and left unchanged (so at the version they
        were loaded): what must not have moved on when the changes commit."""
        return [a for i in self._loaded if not (a := self._seen[i]).pending_events]
