"""What command handlers need from the outside, as protocols.

Infrastructure implements them (infra/eventstore.py, infra/passwords.py);
tests may pass the real ones or small fakes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

A = TypeVar("A", bound=Aggregate)


class AggregateStore(Protocol):
    def save(
        self,
        aggregates: Iterable[Aggregate],
        meta: Mapping[str, Any],
        reads: Sequence[Aggregate] = (),
    ) -> list[int]:
        """Save every pending event, or none (RecordConflictError) when
        another writer got to one of the aggregates first, or moved one of
        `reads` (what the command read and left unchanged) past its version."""

    def get(self, cls: type[A], aggregate_id: UUID) -> A | None: ...

    def moved(self, reads: Sequence[Aggregate]) -> list[UUID]:
        """Which of `reads` have moved on past their version since: what a
        command that failed, or changed nothing, must not have relied on."""


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...
