"""Statements prepared on a PostgreSQL connection and called by name in a
message of plain statements (what the event store's one-message insert
sends): the result is the plain statement's, values of every kind survive
the trip, and a statement the server cannot prepare, or has lost, still
runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.errors import InvalidSqlStatementName
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from infra.server_statements import ServerStatements


@pytest.fixture
def conn(pg_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_dsn, autocommit=True, row_factory=dict_row) as connection:
        connection.execute(
            "CREATE TABLE kept (id UUID PRIMARY KEY, name TEXT, n BIGINT,"
            " at TIMESTAMPTZ, body JSONB, raw BYTEA, flag BOOLEAN)"
        )
        yield connection


def _prepared(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute("SELECT name FROM pg_prepared_statements ORDER BY name").fetchall()
    return [row["name"] for row in rows]


def _run(conn: psycopg.Connection[Any], *statements: str) -> list[dict[str, Any]]:
    with conn.cursor() as cursor:
        cursor.execute(";\n".join(["BEGIN", *statements, "COMMIT"]))
        rows: list[dict[str, Any]] = []
        while True:
            if cursor.description is not None:
                rows += cursor.fetchall()
            if not cursor.nextset():
                return rows


INSERT = (
    "INSERT INTO kept (id, name, n, at, body, raw, flag)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET n = kept.n + 1"
)


def test_a_statement_runs_by_name_and_values_survive(conn: psycopg.Connection[Any]) -> None:
    statements = ServerStatements(prefix="t")
    call = statements.caller(conn)
    key = uuid.uuid4()
    awkward = 'it\'s 100% \\ "odd" ünïcode; -- DROP $1'
    at = datetime(2026, 11, 21, 12, 0, 1, 123456, tzinfo=UTC)
    body = {"quote": "'", "list": [1, None, "ü"]}
    values = [key, awkward, 2**40, at, Jsonb(body), b"\x00\xff'\\", True]
    first = call(INSERT, values)
    assert first.startswith("EXECUTE t_1(") and _prepared(conn) == ["t_1"]
    _run(conn, first, call(INSERT, values))
    row = conn.execute("SELECT * FROM kept").fetchone()
    assert row == {
        "id": key,
        "name": awkward,
        "n": 2**40 + 1,  # the second call took the conflict's branch
        "at": at,
        "body": body,
        "raw": b"\x00\xff'\\",
        "flag": True,
    }
    assert _prepared(conn) == ["t_1"]  # prepared once, called twice


def test_a_literal_percent_and_no_parameters(conn: psycopg.Connection[Any]) -> None:
    call = ServerStatements(prefix="t").caller(conn)
    assert _run(conn, call("SELECT '100%%' AS s", [])) == [{"s": "100%"}]
    assert call("SELECT '100%%' AS s", []) == "EXECUTE t_1"


def test_a_statement_the_server_cannot_prepare_goes_as_text(
    conn: psycopg.Connection[Any],
) -> None:
    call = ServerStatements(prefix="t").caller(conn)
    # unknown + unknown: PostgreSQL cannot choose the operator's types.
    text = call("SELECT %s + %s AS total", [2, 3])
    assert not text.startswith("EXECUTE") and _prepared(conn) == []
    assert _run(conn, text) == [{"total": 5}]
    # Not asked again: the next call costs no round trip to learn it.
    assert call("SELECT %s + %s AS total", [4, 5]) == "SELECT 4 + 5 AS total"


def test_statements_the_server_lost_are_prepared_again(conn: psycopg.Connection[Any]) -> None:
    statements = ServerStatements(prefix="t")
    query = "SELECT %s::bigint * 2 AS doubled"
    assert _run(conn, statements.caller(conn)(query, [21])) == [{"doubled": 42}]
    conn.execute("DEALLOCATE ALL")
    stale = statements.caller(conn)(query, [5])
    with pytest.raises(InvalidSqlStatementName) as lost:
        _run(conn, stale)
    conn.rollback()
    statements.failed(conn, lost.value)
    assert _run(conn, statements.caller(conn)(query, [5])) == [{"doubled": 10}]
    assert _prepared(conn) == ["t_1"]


def test_another_failure_keeps_what_the_connection_has(conn: psycopg.Connection[Any]) -> None:
    """A failed message (a lost version race, a held projection) must not
    send every statement through PREPARE again: that is a round trip each."""
    statements = ServerStatements(prefix="t")
    query = "SELECT %s::bigint AS n"
    statements.caller(conn)(query, [1])
    statements.failed(conn, psycopg.errors.UniqueViolation())
    conn.execute("DEALLOCATE ALL")  # so that a second PREPARE would show
    assert statements.caller(conn)(query, [1]) == "EXECUTE t_1(1)"
    assert _prepared(conn) == []
