"""What command handlers need from the outside, as protocols.

Infrastructure implements them (infra/eventstore.py, infra/passwords.py);
tests may pass the real ones or small fakes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

A = TypeVar("A", bound=Aggregate)


class AggregateStore(Protocol):
    def save(
        self,
        aggregates: Iterable[Aggregate],
        meta: Mapping[str, Any],
        reads: Mapping[UUID, int] | None = None,
    ) -> list[int]:
        """Save every pending event, or none when another writer got to one
        of the aggregates first or moved one of `reads` (id: version read)
        past its version (RecordConflictError)."""

    def get(self, cls: type[A], aggregate_id: UUID) -> A | None: ...

    def moved(self, reads: Mapping[UUID, int]) -> list[UUID]:
        """Which of `reads` (id: version read) may have moved on since: what
        a command that failed, or changed nothing, must not have relied on."""


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...
