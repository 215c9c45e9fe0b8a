"""A rebuild's runs of upserts go in as plain INSERTs first, and end as upserts would."""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg import sql

from infra.database import Database, open_database
from infra.settings import Settings
from projections.base import Table
from projections.batching import BatchingCursor
from projections.statements import UpsertShape, register_columns, upsert_shape, upsert_sql

COLUMNS = (("k", "TEXT"), ("flag", "BOOLEAN"), ("note", "TEXT"))
NAMES = tuple(n for n, _ in COLUMNS)


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "sqlite":
        settings = Settings(data_dir=tmp_path)
    else:
        settings = Settings(data_dir=tmp_path, database_url=request.getfixturevalue("pg_dsn"))
    return open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)


def _tables(db: Database, *names: str) -> None:
    for table in names:
        register_columns(table, COLUMNS)
        with db.transaction() as cur:
            cur.execute(Table(table, COLUMNS, ("k",)).create_table(table))


def _rows(db: Database, table: str) -> list[dict[str, object]]:
    return db.query(sql.SQL("SELECT * FROM {} ORDER BY k").format(sql.Identifier(table)))


def _shape(table: str) -> UpsertShape:
    shape = upsert_shape(upsert_sql(table, NAMES, ("k",)))
    assert shape is not None
    return shape


def test_new_keys_are_inserted_and_the_shape_stays_insert_first(db: Database) -> None:
    _tables(db, "fresh_new", "plain_new")
    rows = [[f"k{i}", i % 2 == 0, f"note {i}"] for i in range(40)]
    conflicted: set[UpsertShape] = set()
    try:
        with db.transaction() as cur:
            batch = BatchingCursor(cur, conflicted)
            for row in rows:
                batch.execute(upsert_sql("fresh_new", NAMES, ("k",)), row)
            batch.flush()
        with db.transaction() as cur:
            for row in rows:
                cur.execute(upsert_sql("plain_new", NAMES, ("k",)), row)
        assert _rows(db, "fresh_new") == _rows(db, "plain_new")
        assert len(_rows(db, "fresh_new")) == 40
        assert conflicted == set()
    finally:
        db.close()


def test_a_run_meeting_an_existing_key_ends_as_upserts_and_the_rest_follow(
    db: Database,
) -> None:
    _tables(db, "fresh_old", "plain_old")
    for table in ("fresh_old", "plain_old"):
        with db.transaction() as cur:
            cur.execute(upsert_sql(table, NAMES, ("k",)), ["k5", False, "before"])
    first = [[f"k{i}", True, f"first {i}"] for i in range(20)]
    second = [[f"k{i}", False, f"second {i}"] for i in range(10, 30)]
    conflicted: set[UpsertShape] = set()
    try:
        with db.transaction() as cur:
            batch = BatchingCursor(cur, conflicted)
            for row in first:
                batch.execute(upsert_sql("fresh_old", NAMES, ("k",)), row)
            batch.flush()
            # The same transaction goes on after the failed INSERT: its
            # savepoint was rolled back, not the transaction.
            for row in second:
                batch.execute(upsert_sql("fresh_old", NAMES, ("k",)), row)
            batch.flush()
        with db.transaction() as cur:
            for row in first + second:
                cur.execute(upsert_sql("plain_old", NAMES, ("k",)), row)
        rebuilt = _rows(db, "fresh_old")
        assert rebuilt == _rows(db, "plain_old")
        assert len(rebuilt) == 30
        assert next(r for r in rebuilt if r["k"] == "k5")["note"] == "first 5"
        assert next(r for r in rebuilt if r["k"] == "k15")["note"] == "second 15"
        expected = {_shape("fresh_old")} if db.dialect == "postgres" else set()
        assert conflicted == expected
    finally:
        db.close()
