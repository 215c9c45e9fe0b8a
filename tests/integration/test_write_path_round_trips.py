"""The write path's shortcuts keep its meaning, on both backends.

A write's catch-up locks and moves every projection's position with one
statement each, gives the audit index the notification ids it already has
(and lets the owner of an event that names none be read inside its insert),
and an idle catch-up takes no lock at all; loads skip the snapshot query
when this process knows there is no newer snapshot. Each test holds one of
those to what the plain way gives.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.domain import Aggregate, event

from domain.identity.projects import Project
from infra.database import Cursor, Database, open_database
from infra.eventstore import EventStore, open_recorder
from infra.settings import Settings
from projections.audit.projection import AuditProjection
from projections.base import Projection, Table
from projections.identity.projection import IdentityProjection
from projections.runner import ProjectionRunner
from tests.integration.test_snapshots import replayed

META = {"user_id": "u", "project_id": "p", "request_id": "r", "source": "test"}


class Widget(Aggregate):
    """A resource whose later events name no owner, and one that moves it."""

    @event("Created")
    def __init__(self, project_id: str) -> None:
        self.project_id = project_id
        self.touches = 0

    @event("Touched")
    def touch(self) -> None:
        self.touches += 1

    @event("Moved")
    def move(self, changes: dict[str, Any]) -> None:
        self.project_id = changes["project_id"]


class Once(Projection):
    """One row per event, by a plain INSERT: applying an event twice fails."""

    name = "once"
    tables = (Table("once_seen", (("notification_id", "BIGINT"),), ("notification_id",)),)

    def topics(self) -> list[str]:
        return []

    def apply_at(self, cursor: Cursor, notification_id: int, event: Any) -> None:
        cursor.execute("INSERT INTO once_seen (notification_id) VALUES (%s)", [notification_id])


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return Settings(data_dir=tmp_path)
    return Settings(data_dir=tmp_path, database_url=request.getfixturevalue("pg_dsn"))


def _database(settings: Settings) -> Database:
    return open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)


@pytest.fixture
def parts(settings: Settings) -> Iterator[tuple[EventStore, Database, ProjectionRunner]]:
    store = EventStore(open_recorder(settings))
    db = _database(settings)
    runner = ProjectionRunner(db, store, [IdentityProjection(), AuditProjection(), Once()])
    runner.setup()
    yield store, db, runner
    db.close()


def _write(store: EventStore, runner: ProjectionRunner, widgets: int = 6) -> None:
    """Saves of several events, each projected before the next as a write
    does: owners named, inherited, inherited within one save, and changed."""
    owner, other = uuid4().hex, uuid4().hex
    for n in range(widgets):
        widget = Widget(owner)
        widget.touch()  # inherits an owner written in the same batch
        ids = store.save([widget], META)
        runner.wait_for(max(ids))
        widget.touch()
        if n % 2:
            widget.move({"project_id": other})
            widget.touch()
        project = Project(UUID(int=n + 1), f"p{n}", "", True, None, [], {})
        project.update(description="later")
        runner.wait_for(max(store.save([widget, project], META)))


def test_live_audit_rows_equal_rebuilt_ones(parts: Any) -> None:
    store, _, runner = parts
    _write(store, runner)
    live = {t.name: runner.rows(t.name) for t in AuditProjection.tables}
    touched = [r["project_id"] for r in live["audit_events"] if r["event_type"].endswith("touched")]
    assert None not in touched and len(set(touched)) == 2  # inherited, before and after a move
    runner.rebuild("audit")
    for table, rows in live.items():
        assert runner.rows(table) == rows, table
    seen = runner.rows("once_seen")
    assert [r["notification_id"] for r in seen] == list(range(1, store.max_notification_id() + 1))


def test_concurrent_catch_ups_apply_every_event_once(settings: Settings, parts: Any) -> None:
    store, _, writer = parts
    others = [_database(settings) for _ in range(3)]
    runners = [
        ProjectionRunner(db, store, [IdentityProjection(), AuditProjection(), Once()])
        for db in others
    ]
    failures: list[BaseException] = []
    done = threading.Event()

    def catch_up(runner: ProjectionRunner) -> None:
        try:
            while not done.is_set():
                runner.catch_up_all()
            runner.catch_up_all()
        except BaseException as error:  # reported by the test below
            failures.append(error)

    threads = [threading.Thread(target=catch_up, args=(r,)) for r in runners]
    for thread in threads:
        thread.start()
    try:
        _write(store, writer, widgets=20)
    finally:
        done.set()
        for thread in threads:
            thread.join(60)
        for db in others:
            db.close()
    assert not failures, failures
    head = store.max_notification_id()
    seen = [r["notification_id"] for r in writer.rows("once_seen")]
    assert seen == list(range(1, head + 1))
    assert all(writer.position(name) == head for name in writer.projections)


def test_an_idle_catch_up_takes_no_lock(settings: Settings, parts: Any) -> None:
    """With nothing new it does not wait for the position rows (nor, on
    SQLite, the database's write lock); with something new it applies it."""
    store, _, runner = parts
    _write(store, runner, widgets=1)
    runner.catch_up_all()
    outcome: list[str] = []

    def idle() -> None:
        try:
            runner.catch_up_all()
            outcome.append("returned")
        except Exception as error:
            outcome.append(repr(error))

    with _positions_held(settings):
        thread = threading.Thread(target=idle)
        thread.start()
        thread.join(20)
        waited = thread.is_alive()
    thread.join()  # released: a catch-up that did wait finishes before the asserts
    assert not waited and outcome == ["returned"]
    other = EventStore(open_recorder(settings))
    other.save([Widget("elsewhere")], META)  # another process's write
    before = runner.changed_position("audit")
    runner.catch_up_all()
    assert runner.changed_position("audit") > before
    assert runner.position("once") == store.max_notification_id()


class _positions_held:
    """Another connection holding every position row (PostgreSQL) or the
    whole database (SQLite) for writing."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.release: Any = None

    def __enter__(self) -> None:
        if self.settings.is_postgres:
            conn = psycopg.connect(self.settings.database_url)
            conn.execute("SELECT * FROM projection_positions FOR UPDATE")
        else:
            lite = sqlite3.connect(str(self.settings.sqlite_path), isolation_level=None)
            lite.execute("BEGIN IMMEDIATE")
            self.release = lite
            return
        self.release = conn

    def __exit__(self, *_: object) -> None:
        self.release.rollback() if self.settings.is_postgres else self.release.execute("ROLLBACK")
        self.release.close()


def test_loads_see_snapshots_another_process_takes(settings: Settings) -> None:
    """What a process remembers of snapshots never makes a load wrong, and a
    newer snapshot is found once the aggregate has crossed a multiple."""
    ours = EventStore(open_recorder(settings), snapshot_every=3)
    theirs = EventStore(open_recorder(settings), snapshot_every=3)
    project = Project(uuid4(), "shared", "", True, None, [], {})
    ours.save([project], META)
    assert ours.get(Project, project.id) is not None  # remembers: no snapshot
    for n in range(7):
        loaded = theirs.get(Project, project.id)
        assert loaded is not None
        loaded.update(description=f"step {n}")
        theirs.save([loaded], META)
    for _ in range(2):  # the first load learns it crossed, the second uses the snapshot
        fresh = ours.get(Project, project.id)
        assert fresh is not None and vars(fresh) == replayed(ours, project.id)
    _, known = ours.snapshots._known.get(project.id)
    assert known is not None and known.originator_version == 6
    theirs.snapshots.clear()  # e.g. `strata replay`: a remembered snapshot stays true
    fresh = ours.get(Project, project.id)
    assert fresh is not None and vars(fresh) == replayed(ours, project.id)
