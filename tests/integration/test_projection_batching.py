"""Batched projection writes keep statement order, and caches notice other writers."""

from __future__ import annotations

from pathlib import Path

import pytest

import commands.identity  # noqa: F401
from commands.bus import CommandBus, Dependencies
from commands.context import Context
from commands.identity.roles import CreateRole
from infra.database import open_database
from infra.eventstore import EventStore, open_recorder
from infra.settings import Settings
from projections.batching import BatchingCursor
from projections.identity.projection import IdentityProjection
from projections.runner import ProjectionRunner
from tests.integration.test_store_contract import PlainPasswords


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return Settings(data_dir=tmp_path)
    return Settings(data_dir=tmp_path, database_url=request.getfixturevalue("pg_dsn"))


def test_runs_of_one_statement_keep_their_order_and_reads_see_them(settings: Settings) -> None:
    db = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
    try:
        with db.transaction() as cur:
            cur.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
        with db.transaction() as cur:
            batch = BatchingCursor(cur)
            for k in range(5):
                batch.execute("INSERT INTO t (k, v) VALUES (%s, %s)", [k, "a"])
            batch.execute("UPDATE t SET v = %s WHERE k = %s", ["b", 3])
            batch.execute("INSERT INTO t (k, v) VALUES (%s, %s)", [9, "c"])
            batch.execute("SELECT v FROM t WHERE k = %s", [3])
            assert batch.fetchall() == [{"v": "b"}]
            batch.execute("DELETE FROM t WHERE k = %s", [0])
            batch.execute("UPDATE t SET v = %s WHERE k = %s", ["d", 9])
            batch.flush()
        rows = db.query("SELECT k, v FROM t ORDER BY k")
        assert rows == [
            {"k": 1, "v": "a"},
            {"k": 2, "v": "a"},
            {"k": 3, "v": "b"},
            {"k": 4, "v": "a"},
            {"k": 9, "v": "d"},
        ]
    finally:
        db.close()


def test_a_change_projected_by_another_process_counts_as_a_change(settings: Settings) -> None:
    """Token and catalog caches key on `changed_position`; a revocation that
    another API process projected must still invalidate this one's caches."""
    store = EventStore(open_recorder(settings))
    db_a = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
    db_b = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
    try:
        ours = ProjectionRunner(db_a, store, [IdentityProjection()])
        theirs = ProjectionRunner(db_b, store, [IdentityProjection()])
        ours.setup()
        bus = CommandBus(store, Dependencies(passwords=PlainPasswords()), theirs.wait_for)
        ours.catch_up_all()
        before = ours.changed_position("identity")
        result = bus.dispatch(CreateRole(name="elsewhere"), Context())
        assert theirs.changed_position("identity") == max(result.notification_ids)
        ours.catch_up_all()
        assert ours.changed_position("identity") > before
    finally:
        db_a.close()
        db_b.close()
