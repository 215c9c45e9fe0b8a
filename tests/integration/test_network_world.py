"""Shared setup of the network tests (no tests here): a command bus with the network
projection on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import commands.network  # noqa: F401
from commands.bus import Command, CommandBus, Dependencies
from commands.context import Context
from infra.database import Database, open_database
from infra.eventstore import EventStore, open_recorder
from infra.settings import Settings
from projections.network.projection import NetworkProjection
from projections.network.queries import NetworkQueries
from projections.runner import ProjectionRunner

ADMIN = Context(user_id="admin", project_id="p-admin", roles=frozenset({"admin", "member"}))
ALICE = Context(user_id="alice", project_id="p-alice", roles=frozenset({"member"}))
BOB = Context(user_id="bob", project_id="p-bob", roles=frozenset({"member"}))


class NoPasswords:
    def hash(self, password: str) -> str:
        return password

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == password


@dataclass
class NetWorld:
    store: EventStore
    db: Database
    runner: ProjectionRunner
    bus: CommandBus
    queries: NetworkQueries

    def run(self, command: Command, ctx: Context = ALICE) -> dict[str, Any]:
        return self.bus.dispatch(command, ctx).outcome

    def doc(self, collection: str, ident: Any) -> dict[str, Any]:
        found = self.queries.get(collection, str(ident), None)
        assert found is not None, f"{collection} {ident} is not projected"
        return found


def settings_for(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    if backend == "postgres":
        return Settings(data_dir=tmp_path, database_url=request.getfixturevalue("pg_dsn"))
    return Settings(data_dir=tmp_path)


def make_world(settings: Settings, max_attempts: int = 8) -> Iterator[NetWorld]:
    store = EventStore(open_recorder(settings))
    db = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
    runner = ProjectionRunner(db, store, [NetworkProjection()])
    runner.setup()
    bus = CommandBus(
        store, Dependencies(passwords=NoPasswords()), runner.wait_for, max_attempts=max_attempts
    )
    yield NetWorld(store, db, runner, bus, NetworkQueries(db))
    db.close()
