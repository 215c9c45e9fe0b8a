"""Schema evolution: an event changes shape, and an old log still replays to
the same read models (the recipe in docs/events.md, on both backends).

The story: `Project.Created` used to carry `labels`, one comma-separated
string; version 2 carries `tags`, a list. The log is never rewritten, so the
class gains `class_version = 2` and an `upcast_v1_v2` that turns an old
state into a new one whenever an old event is read. The test writes a log
with today's events, makes an old-shape copy of it, replays the copy from
zero and expects identical identity and audit rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

import commands.identity  # noqa: F401  (registers the handlers)
from commands.bus import CommandBus, Dependencies
from commands.context import Context
from commands.identity.tenancy import CreateDomain, CreateProject, UpdateProject
from domain.identity.ids import DEFAULT_DOMAIN_ID
from domain.identity.projects import Project
from infra.database import open_database
from infra.eventstore import EventStore, open_recorder
from infra.settings import Settings
from projections.audit.projection import AUDIT_TABLE, OWNERS_TABLE, AuditProjection
from projections.identity.projection import IdentityProjection
from projections.runner import ProjectionRunner
from tests.integration.test_audit_setup import BACKENDS

CREATED_TOPIC = "domain.identity.projects:Project.Created"
TABLES = ("projects", AUDIT_TABLE.name, OWNERS_TABLE.name)


def upcast_v1_v2(state: dict[str, Any]) -> None:
    """v1 `labels: "a,b"` → v2 `tags: ["a", "b"]`."""
    labels = state.pop("labels")
    state["tags"] = [label for label in labels.split(",") if label]


@pytest.fixture
def version_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Project.Created, "class_version", 2)
    monkeypatch.setattr(Project.Created, "upcast_v1_v2", staticmethod(upcast_v1_v2), raising=False)


class Plain:
    def hash(self, password: str) -> str:
        return password

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == password


def _settings(backend: str, path: Path, request: pytest.FixtureRequest) -> Settings:
    path.mkdir()
    if backend == "postgres":
        return Settings(data_dir=path, database_url=request.getfixturevalue("pg_dsn"))
    return Settings(data_dir=path)


def _parts(settings: Settings) -> tuple[EventStore, ProjectionRunner, Any]:
    store = EventStore(open_recorder(settings))
    db = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
    runner = ProjectionRunner(db, store, [IdentityProjection(), AuditProjection()])
    runner.setup()
    return store, runner, db


@pytest.fixture(params=BACKENDS)
def backends(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Settings, Settings]]:
    if request.param == "postgres":
        # Two databases on one server: pg_dsn gives one per test, so the
        # old log lives in a second, made by hand.
        from tests.support.services import database_name, drop_database, fresh_database

        admin = request.getfixturevalue("pg_admin_dsn")
        second = fresh_database(admin, "strata_upcast_old")
        yield (
            _settings("postgres", tmp_path / "new", request),
            Settings(data_dir=tmp_path / "old", database_url=second),
        )
        drop_database(admin, database_name(second))
    else:
        yield Settings(data_dir=tmp_path / "new"), Settings(data_dir=tmp_path / "old")


def _old_shape(store: EventStore, stored: StoredEvent) -> StoredEvent:
    if stored.topic != CREATED_TOPIC:
        return stored
    state = store.mapper.transcoder.decode(stored.state)
    assert state.pop("class_version") == 2
    state["labels"] = ",".join(state.pop("tags"))
    return StoredEvent(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=store.mapper.transcoder.encode(state),
    )


@pytest.mark.usefixtures("version_two")
def test_an_old_log_replays_to_the_same_read_models(
    backends: tuple[Settings, Settings],
) -> None:
    new_settings, old_settings = backends
    new_settings.data_dir.mkdir(exist_ok=True)
    old_settings.data_dir.mkdir(exist_ok=True)
    store, runner, db = _parts(new_settings)
    bus = CommandBus(store, Dependencies(passwords=Plain()), after_commit=runner.wait_for)
    ctx = Context(user_id="u", project_id="p", roles=frozenset({"admin"}), request_id="r")
    bus.dispatch(CreateDomain(name="Default", default=True), ctx)
    for n in range(5):
        command = CreateProject(domain_id=DEFAULT_DOMAIN_ID, name=f"p{n}", tags=["a", f"t{n}"])
        project = bus.dispatch(command, ctx).outcome["id"]
        bus.dispatch(UpdateProject(project_id=project, description=f"d{n}"), ctx)
    expected = {table: runner.rows(table) for table in TABLES}

    old_store, old_runner, old_db = _parts(old_settings)
    log = store.notifications(after=0, limit=10_000)
    old_log = [_old_shape(store, n) for n in log]
    assert any(b"labels" in e.state for e in old_log)  # really the old shape
    for stored in old_log:
        old_store.recorder.insert_events([stored])
    old_runner.catch_up_all()  # a replay from event zero, upcasting on read
    assert {table: old_runner.rows(table) for table in TABLES} == expected
    old_runner.rebuild("identity")
    assert old_runner.rows("projects") == expected["projects"]
    for database in (db, old_db):
        database.close()
