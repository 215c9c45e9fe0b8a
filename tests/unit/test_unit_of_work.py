"""What a unit of work tells the save about the aggregates its command read."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from eventsourcing.domain import Aggregate, event

from commands.unit_of_work import UnitOfWork

A = TypeVar("A", bound=Aggregate)


class Thing(Aggregate):
    def __init__(self, name: str) -> None:
        self.name = name

    @event("Renamed")
    def rename(self, name: str) -> None:
        self.name = name


class Store:
    def __init__(self, *things: Thing) -> None:
        self.things = {t.id: t for t in things}

    def get(self, cls: type[A], aggregate_id: uuid.UUID) -> A | None:
        found = self.things.get(aggregate_id)
        return found if isinstance(found, cls) else None

    def save(
        self,
        aggregates: Iterable[Aggregate],
        meta: Mapping[str, Any],
        reads: Sequence[Aggregate] = (),
    ) -> list[int]:
        raise AssertionError("not saved here")

    def moved(self, reads: Sequence[Aggregate]) -> list[uuid.UUID]:
        raise AssertionError("not asked here")


def _stored(name: str, renames: int = 0) -> Thing:
    thing = Thing(name)
    for n in range(renames):
        thing.rename(f"{name}-{n}")
    thing.collect_events()
    return thing


def test_reads_are_what_was_loaded_and_left_unchanged() -> None:
    read, changed = _stored("read", renames=2), _stored("changed")
    uow = UnitOfWork(Store(read, changed))
    assert uow.get(Thing, read.id) is read
    loaded = uow.get(Thing, changed.id)
    assert loaded is not None
    loaded.rename("new name")
    uow.add(Thing("new"))
    assert uow.get(Thing, uuid.uuid4()) is None
    # The changed one is checked by its own insert; the new one was never read.
    assert uow.reads() == [read] and read.version == 3
