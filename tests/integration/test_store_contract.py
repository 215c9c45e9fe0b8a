"""One contract, run on SQLite and on PostgreSQL: saving with metadata,
atomic multi-aggregate saves, conflict retries, idempotency, projections,
replay equality and upcasting."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import commands.identity  # noqa: F401
from commands.bus import CommandBus, Dependencies
from commands.context import Context
from commands.identity.people import CreateUser
from commands.identity.roles import CreateRole
from commands.identity.tenancy import CreateDomain, CreateProject, UpdateProject
from domain.errors import Conflict
from domain.identity.ids import DEFAULT_DOMAIN_ID
from domain.identity.projects import Project
from infra.database import Database, open_database
from infra.eventstore import EventStore, event_meta, open_recorder
from infra.settings import Settings
from projections.identity.projection import TABLES, IdentityProjection
from projections.runner import ProjectionRunner


class PlainPasswords:
    """Argon2 is slow by design; the contract is about storage, not hashing."""

    def hash(self, password: str) -> str:
        return "plain:" + password

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == "plain:" + password


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return Settings(data_dir=tmp_path)
    dsn = request.getfixturevalue("pg_dsn")
    return Settings(data_dir=tmp_path, database_url=dsn)


@pytest.fixture
def parts(
    settings: Settings,
) -> Iterator[tuple[EventStore, Database, ProjectionRunner, CommandBus]]:
    store = EventStore(open_recorder(settings))
    db = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
    runner = ProjectionRunner(db, store, [IdentityProjection()])
    runner.setup()
    bus = CommandBus(store, Dependencies(passwords=PlainPasswords()), after_commit=runner.wait_for)
    bus.dispatch(CreateDomain(name="Default", default=True), Context())
    yield store, db, runner, bus
    db.close()


CTX = Context(
    user_id="u-1",
    project_id="p-1",
    request_id="req-abc",
    source="10.0.0.9",
    roles=frozenset({"admin"}),
)


def test_events_carry_metadata(parts: Any) -> None:
    store, _, _, bus = parts
    result = bus.dispatch(CreateProject(domain_id=DEFAULT_DOMAIN_ID, name="meta"), CTX)
    events = store.history(result.outcome["id"])
    assert [type(e).__qualname__ for e in events] == ["Project.Created"]
    meta = event_meta(events[0])
    assert meta == {
        "user_id": "u-1",
        "project_id": "p-1",
        "request_id": "req-abc",
        "source": "10.0.0.9",
        "idempotency_key": None,
    }


def test_project_and_name_claim_are_saved_together(parts: Any) -> None:
    store, _db, _, bus = parts
    bus.dispatch(CreateProject(domain_id=DEFAULT_DOMAIN_ID, name="twice"), CTX)
    before = store.max_notification_id()
    with pytest.raises(Conflict):
        bus.dispatch(CreateProject(domain_id=DEFAULT_DOMAIN_ID, name="twice"), CTX)
    assert store.max_notification_id() == before  # nothing half-written


def test_concurrent_creates_of_one_name_admit_exactly_one(parts: Any) -> None:
    _, db, _, bus = parts
    outcomes: list[str] = []

    def create() -> None:
        try:
            bus.dispatch(CreateRole(name="racy"), CTX)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 5 + ["ok"]
    assert len(db.query("SELECT id FROM roles WHERE name = 'racy'")) == 1


def test_concurrent_updates_are_retried_not_lost(parts: Any) -> None:
    _, _db, _, bus = parts
    pid = bus.dispatch(CreateProject(domain_id=DEFAULT_DOMAIN_ID, name="busy"), CTX).outcome["id"]
    threads = [
        threading.Thread(
            target=bus.dispatch, args=(UpdateProject(project_id=pid, description=f"d{i}"), CTX)
        )
        for i in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(IdentityProjection().topics()) > 0
    store = parts[0]
    updates = [e for e in store.history(pid) if type(e).__qualname__ == "Project.Updated"]
    assert len(updates) == 6  # every writer's change landed, in some order


def test_many_concurrent_commands_each_land_whole_and_in_order(parts: Any) -> None:
    """Group commit may put many commands in one transaction; each stays intact."""
    store, db, _, bus = parts
    results: list[Any] = []
    lock = threading.Lock()

    def create(worker: int) -> None:
        for n in range(10):
            result = bus.dispatch(
                CreateProject(domain_id=DEFAULT_DOMAIN_ID, name=f"w{worker}-{n}"), CTX
            )
            with lock:
                results.append(result)

    threads = [threading.Thread(target=create, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 80
    all_ids = [i for r in results for i in r.notification_ids]
    assert len(all_ids) == len(set(all_ids))
    for result in results:
        ids = result.notification_ids
        assert ids == list(range(ids[0], ids[0] + len(ids)))
        created = [
            n
            for n in store.notifications(after=ids[0] - 1, limit=len(ids))
            if n.topic.endswith("Project.Created")
        ]
        assert [n.originator_id for n in created] == [result.outcome["id"]]
    names = {r["name"] for r in db.query("SELECT name FROM projects WHERE name LIKE 'w%'")}
    assert names == {f"w{w}-{n}" for w in range(8) for n in range(10)}


def test_idempotency_key_replays_outcome_without_new_events(parts: Any) -> None:
    store, _, _, bus = parts
    ctx = Context(user_id="u-1", idempotency_key="key-1", roles=frozenset({"admin"}))
    first = bus.dispatch(CreateProject(domain_id=DEFAULT_DOMAIN_ID, name="idem"), ctx)
    head = store.max_notification_id()
    again = bus.dispatch(CreateProject(domain_id=DEFAULT_DOMAIN_ID, name="idem"), ctx)
    assert again.replayed and again.outcome == first.outcome
    assert store.max_notification_id() == head
    with pytest.raises(Conflict):
        bus.dispatch(CreateProject(domain_id=DEFAULT_DOMAIN_ID, name="other"), ctx)


def test_read_your_writes_and_replay_give_the_same_rows(parts: Any) -> None:
    _, db, runner, bus = parts
    for i in range(20):
        pid = bus.dispatch(CreateProject(domain_id=DEFAULT_DOMAIN_ID, name=f"p{i}"), CTX).outcome[
            "id"
        ]
        assert db.query("SELECT name FROM projects WHERE id = %s", [pid.hex])  # visible at once
        bus.dispatch(
            CreateUser(
                domain_id=DEFAULT_DOMAIN_ID, name=f"u{i}", password="pw", default_project_id=pid
            ),
            CTX,
        )
        bus.dispatch(UpdateProject(project_id=pid, description="changed"), CTX)
    live = {t.name: runner.rows(t.name) for t in TABLES}
    report = runner.rebuild("identity")
    assert report.events > 0
    rebuilt = {t.name: runner.rows(t.name) for t in TABLES}
    assert rebuilt == live
    assert len(live["projects"]) == 20


def test_old_event_versions_are_upcast_on_load(parts: Any) -> None:
    """A v1 Project.Created without `tags`, stored before tags existed,
    still loads once the class says how to upcast it."""
    store, _, _, _ = parts
    project = Project(
        domain_id=DEFAULT_DOMAIN_ID,
        name="old",
        description="",
        enabled=True,
        parent_id=None,
        tags=["x"],
        extra={},
    )
    store.save([project], {"user_id": "system"})
    created = Project.Created
    original_version = getattr(created, "class_version", 1)

    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["tags"] = [*state["tags"], "upcast"]

    created.class_version = 2  # type: ignore[attr-defined]
    created.upcast_v1_v2 = staticmethod(upcast_v1_v2)  # type: ignore[attr-defined]
    try:
        loaded = store.get(Project, project.id)
    finally:
        created.class_version = original_version  # type: ignore[attr-defined]
        del created.upcast_v1_v2  # type: ignore[attr-defined]
    assert loaded is not None
    assert loaded.tags == ["x", "upcast"]
