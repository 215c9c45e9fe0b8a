"""Batched projection writes keep statement order, and caches notice other writers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

import commands.identity  # noqa: F401
from commands.bus import CommandBus, Dependencies
from commands.context import Context
from commands.identity.roles import CreateRole
from infra.database import open_database
from infra.eventstore import EventStore, open_recorder
from infra.settings import Settings
from projections.base import Table
from projections.batching import BatchingCursor
from projections.identity.projection import IdentityProjection
from projections.runner import ProjectionRunner
from projections.statements import register_columns, upsert_sql
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


def _upsert_rows(n: int) -> list[list[Any]]:
    """Rows for (k, flag, count, label): repeated keys, NULLs, and text that
    JSON must escape."""
    rows: list[list[Any]] = []
    for i in range(n):
        key = f"k{i % (n - 7)}"  # the last seven rows repeat earlier keys
        label = None if i % 5 == 0 else f'"q\\uote"\n\u00e9\u2603 {i} \\'
        rows.append([key, i % 3 == 0, i * 1_000_000_007, label])
    return rows


@pytest.mark.parametrize(
    ("kinds", "count"),
    [
        (("TEXT", "BOOLEAN", "BIGINT", "TEXT"), 1500),  # crosses the 1,024-row chunks
        (("TEXT", "BOOLEAN", "BIGINT", "TEXT"), 20),
        (("TEXT NOT NULL", "BOOLEAN", "BIGINT", "TEXT"), 300),  # no casts known: JSON objects
    ],
)
def test_runs_of_upserts_end_as_the_same_upserts_one_by_one(
    settings: Settings, kinds: tuple[str, ...], count: int
) -> None:
    """Multi-row statements (and on PostgreSQL a JSON parameter) instead of
    one statement per row: same rows, with existing rows updated, the later
    of two rows with one key winning, NULLs and odd text intact."""
    db = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
    names = ("k", "flag", "count", "label")
    columns = tuple(zip(names, kinds, strict=True))
    # Shapes are cached by table name: one name per case.
    batched_table, plain_table = f"batched_{len(kinds[0])}_{count}", f"plain_{count}"
    try:
        for table in (batched_table, plain_table):
            register_columns(table, columns)
            with db.transaction() as cur:
                cur.execute(Table(table, columns, ("k",)).create_table(table))
                cur.execute(upsert_sql(table, names, ("k",)), ["k3", False, -1, "before"])
        rows = _upsert_rows(count)
        with db.transaction() as cur:
            batch = BatchingCursor(cur)
            for row in rows:
                batch.execute(upsert_sql(batched_table, names, ("k",)), row)
            batch.flush()
        with db.transaction() as cur:
            for row in rows:
                cur.execute(upsert_sql(plain_table, names, ("k",)), row)
        batched = db.query(
            sql.SQL("SELECT * FROM {} ORDER BY k").format(sql.Identifier(batched_table))
        )
        assert batched == db.query(
            sql.SQL("SELECT * FROM {} ORDER BY k").format(sql.Identifier(plain_table))
        )
        assert len(batched) == count - 7
        first = next(r for r in batched if r["k"] == "k0")
        assert first["count"] == (count - 7) * 1_000_000_007  # the repeat won
        assert first["flag"] == ((count - 7) % 3 == 0)
    finally:
        db.close()


def test_runs_holding_floats_take_the_one_row_route(settings: Settings) -> None:
    """A float's JSON spelling is not PostgreSQL's: such runs are sent as
    parameters, and end as they would one by one."""
    db = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
    columns = (("k", "TEXT"), ("size", "REAL"), ("note", "TEXT"))
    names = tuple(n for n, _ in columns)
    try:
        register_columns("floats", columns)
        with db.transaction() as cur:
            cur.execute(Table("floats", columns, ("k",)).create_table("floats"))
            batch = BatchingCursor(cur)
            for i in range(50):
                batch.execute(upsert_sql("floats", names, ("k",)), [f"k{i}", i / 8, str(i)])
            batch.flush()
        rows = db.query("SELECT * FROM floats ORDER BY k")
        assert len(rows) == 50
        assert {r["k"]: r["size"] for r in rows}["k5"] == 0.625
    finally:
        db.close()
