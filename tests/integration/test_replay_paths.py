"""Replay's fast paths give what the plain paths give, on both backends.

A replay reads the log through its own reader and decoder, reads ahead in a
thread, and sends runs of upserts as multi-row statements. These tests hold
each of those to the straightforward way: the library's notifications and
mapper, and every handler's statements executed one at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

import commands.identity  # noqa: F401  (registers the handlers)
from commands.bus import CommandBus, Dependencies
from commands.context import Context
from commands.identity.people import CreateUser, DeleteUser, UpdateUser
from commands.identity.tenancy import CreateDomain
from domain.identity.ids import DEFAULT_DOMAIN_ID
from domain.identity.projects import Project
from infra.database import Database, open_database
from infra.eventstore import EventStore, open_recorder
from infra.settings import Settings
from projections.audit.projection import AuditProjection
from projections.base import Projection
from projections.identity.projection import IdentityProjection
from projections.rebuild import REBUILD_SUFFIX
from projections.runner import ProjectionRunner
from tests.integration.test_store_contract import PlainPasswords

META = {"user_id": "u", "project_id": "p", "request_id": "r", "source": "test"}
REFERENCE = "__reference"


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return Settings(data_dir=tmp_path)
    return Settings(data_dir=tmp_path, database_url=request.getfixturevalue("pg_dsn"))


@pytest.fixture
def parts(settings: Settings) -> Iterator[tuple[EventStore, Database, ProjectionRunner]]:
    store = EventStore(open_recorder(settings))
    db = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
    runner = ProjectionRunner(db, store, [IdentityProjection(), AuditProjection()])
    runner.setup()
    yield store, db, runner
    db.close()


def _write_log(store: EventStore, runner: ProjectionRunner) -> None:
    """Long runs of one upsert (projects created in bulk), updates and
    deletes of some of them, and people whose personal data is sealed, one
    of them forgotten."""
    bus = CommandBus(store, Dependencies(passwords=PlainPasswords()), after_commit=runner.wait_for)
    ctx = Context()
    bus.dispatch(CreateDomain(name="Default", default=True), ctx)
    projects: list[Project] = []
    for start in range(0, 2600, 650):  # saves of 650: runs cross the 1,024-row chunks
        batch = [
            Project(DEFAULT_DOMAIN_ID, f"p{n}", f"d\u00e9{n}", n % 3 != 0, None, [f"t{n}"], {})
            for n in range(start, start + 650)
        ]
        store.save(batch, META)
        projects += batch
    for n, project in enumerate(projects[::7]):
        project.update(description=f"changed {n}", enabled=bool(n % 2), extra={"k": n})
    store.save(projects[::7], META)
    for project in projects[::11]:
        project.delete()
    store.save(projects[::11], META)
    people = [
        bus.dispatch(
            CreateUser(domain_id=DEFAULT_DOMAIN_ID, name=f"user{n}", email=f"u{n}@example.org"),
            ctx,
        ).outcome["id"]
        for n in range(12)
    ]
    bus.dispatch(UpdateUser(user_id=people[0], description="secret"), ctx)
    bus.dispatch(DeleteUser(user_id=people[1]), ctx)  # shredded: replays as [removed]


def _reference(db: Database, store: EventStore, live: Projection) -> Projection:
    """The projection's tables filled the plain way: library notifications
    and mapper, every statement executed on its own."""
    reference = type(live)({t.name: t.name + REFERENCE for t in live.tables})
    topics = reference.topics()
    with db.transaction() as cur:
        for table in reference.tables:
            cur.execute(table.create_table(table.name + REFERENCE))
        position = 0
        while notifications := store.notifications(position, 500, topics=topics):
            for notification in notifications:
                reference.apply(cur, store.mapper.to_domain_event(notification))
            position = notifications[-1].id
    return reference


def test_replay_equals_applying_every_event_one_statement_at_a_time(parts: Any) -> None:
    store, db, runner = parts
    _write_log(store, runner)
    for name in ("identity", "audit"):
        live = runner.projections[name]
        _reference(db, store, live)
        report = runner.rebuild(name)
        assert report.position == store.max_notification_id()
        for table in live.tables:
            rebuilt = runner.rows(table.name)
            assert rebuilt == runner.rows(table.name, table.name + REFERENCE), table.name
    projects = runner.rows("projects")
    assert len(projects) == 2600 - len(range(0, 2600, 11))
    users = runner.rows("users")
    assert len(users) == 11 and {u["email"] for u in users} >= {"u0@example.org"}


def test_the_log_reader_gives_what_the_recorder_gives(parts: Any) -> None:
    store, _, runner = parts
    _write_log(store, runner)
    head = store.max_notification_id()
    topics = IdentityProjection().topics()
    for selected in (topics, []):
        expected = []
        position = 0
        while notifications := store.notifications(position, 700, stop=head, topics=selected):
            expected += notifications
            position = notifications[-1].id
        pages = list(store.decoded_pages(0, head, selected, size=700))
        assert all(len(page) == 700 for page in pages[:-1])
        read = [item for page in pages for item in page]
        assert [n for n, _ in read] == [n.id for n in expected]
        for (_, event), notification in zip(read, expected, strict=True):
            original = store.mapper.to_domain_event(notification)
            assert type(event) is type(original)
            assert vars(event) == vars(original)
    middle = expected[len(expected) // 2].id
    later = [n for page in store.decoded_pages(middle, head) for n, _ in page]
    assert later == [n.id for n in expected if n.id > middle]
    assert list(store.decoded_pages(head, head)) == []


def test_a_rebuild_that_fails_half_way_leaves_the_live_tables_alone(
    parts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader thread's error reaches the rebuild, which stops before the switch."""
    store, db, runner = parts
    _write_log(store, runner)
    runner.catch_up_all()
    before = runner.rows("projects")
    position = runner.position("identity")
    calls = 0
    decode = store.decoder.decode_parts

    def failing(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1500:
            raise RuntimeError("disk on fire")
        return decode(*args)

    monkeypatch.setattr(store.decoder, "decode_parts", failing)
    with pytest.raises(RuntimeError, match="on fire"):
        runner.rebuild("identity")
    assert runner.rows("projects") == before
    assert runner.position("identity") == position
    leftover = db.query(
        sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier("projects" + REBUILD_SUFFIX))
    )
    assert leftover[0]["n"] < len(before)  # stopped early, dropped by the next rebuild
    monkeypatch.undo()
    runner.rebuild("identity")
    assert runner.rows("projects") == before
