"""Snapshots are a faithful cache: loading from one gives the state a full
replay gives; what cannot be snapshotted faithfully, or must stay shreddable,
is not; a broken snapshot is ignored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate, event
from psycopg import sql

from domain.identity.projects import Project
from domain.identity.users import User
from infra.eventstore import EventStore, open_recorder
from infra.settings import Settings

META = {"user_id": "u", "project_id": "p", "request_id": "r", "source": "t"}


class Bag(Aggregate):
    """State JSON cannot carry faithfully: a set comes back as a list."""

    @event("Created")
    def __init__(self) -> None:
        self.items: set[str] = set()

    @event("Added")
    def add(self, item: str) -> None:
        self.items.add(item)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    if request.param == "sqlite":
        settings = Settings(data_dir=tmp_path)
    else:
        settings = Settings(data_dir=tmp_path, database_url=request.getfixturevalue("pg_dsn"))
    yield EventStore(open_recorder(settings), snapshot_every=3)


def replayed(store: EventStore, aggregate_id: UUID) -> dict[str, Any]:
    aggregate: Any = None
    for domain_event in store.history(aggregate_id):
        aggregate = domain_event.mutate(aggregate)  # type: ignore[attr-defined]
    return dict(vars(aggregate))


def snapshot_versions(store: EventStore, aggregate_id: UUID) -> list[int]:
    rows = store.snapshots.recorder.select_events(aggregate_id)
    return [r.originator_version for r in rows]


def test_loading_from_a_snapshot_equals_a_full_replay(store: EventStore) -> None:
    project = Project(UUID(int=1), "busy", "", True, None, [], {})
    store.save([project], META)
    for n in range(10):
        loaded = store.get(Project, project.id)
        assert loaded is not None
        loaded.update(description=f"step {n}", tags=[f"t{n}"])
        store.save([loaded], META)
    assert snapshot_versions(store, project.id) == [3, 6, 9]
    fresh = store.get(Project, project.id)
    assert fresh is not None and fresh.version == 11
    assert vars(fresh) == replayed(store, project.id)


def test_personal_data_and_unfaithful_state_are_never_snapshotted(store: EventStore) -> None:
    user = User(UUID(int=2), "alice", True, "", None, None, None, {})
    bag = Bag()
    store.save([user, bag], META)
    for n in range(7):
        user.update(description=f"d{n}")
        bag.add(f"i{n}")
        store.save([user, bag], META)
    assert snapshot_versions(store, user.id) == []
    assert snapshot_versions(store, bag.id) == []
    loaded = store.get(Bag, bag.id)
    assert loaded is not None and loaded.items == {f"i{n}" for n in range(7)}


def test_a_snapshot_that_no_longer_decodes_is_ignored(store: EventStore) -> None:
    project = Project(UUID(int=3), "old", "", True, None, [], {})
    store.save([project], META)
    for n in range(4):
        project.update(description=f"v{n}")
        store.save([project], META)
    assert snapshot_versions(store, project.id) == [3]
    datastore: Any = store.snapshots.recorder.datastore  # type: ignore[attr-defined]
    statement = sql.SQL("UPDATE snapshots SET topic = %s")
    with datastore.transaction(commit=True) as cursor:
        if store.snapshots.sqlite:
            cursor.execute(statement.as_string(None).replace("%s", "?"), ("gone.module:Gone",))
        else:
            cursor.execute(statement, ("gone.module:Gone",))
    loaded = store.get(Project, project.id)
    assert loaded is not None and loaded.description == "v3"
    store.snapshots.clear()
    assert snapshot_versions(store, project.id) == []
