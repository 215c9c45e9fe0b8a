"""Read-model storage on SQLite or PostgreSQL behind one small interface.

Queries are composed with `psycopg.sql` on both backends, so identifiers are
always quoted by the library and values always travel as parameters. SQLite
receives the same text with its own `?` placeholders: the rendered query has
no literal percent signs of its own (values are never inlined), so the only
`%s` in it are placeholders.
"""

from __future__ import annotations

import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from psycopg import sql

from infra.sqlite_lock import SQLITE_WRITE_LOCK

# SQLite stores a bool as the integer it is; without an adapter of its own
# the driver first looks for one, raising and clearing two AttributeErrors
# per value (a measurable part of a rebuild). Same stored value, less work.
sqlite3.register_adapter(bool, int)

Row = dict[str, Any]
Params = Sequence[Any]
Query = sql.Composable | str


class Cursor(ABC):
    """What a transaction can do: run statements and read rows."""

    dialect: str

    @abstractmethod
    def execute(self, query: Query, params: Params = ()) -> None: ...

    @abstractmethod
    def executemany(self, query: Query, rows: Sequence[Params]) -> None: ...

    @abstractmethod
    def fetchall(self) -> list[Row]: ...

    def fetchone(self) -> Row | None:
        rows = self.fetchall()
        return rows[0] if rows else None

    @abstractmethod
    def lock_row_clause(self) -> sql.Composable:
        """`FOR UPDATE` where the database has row locks, nothing on SQLite
        (whose write transactions are already exclusive)."""


class Database(ABC):
    dialect: str

    @abstractmethod
    @contextmanager
    def transaction(self, pipelined: bool = False) -> Iterator[Cursor]:
        """A read-write transaction, committed when the block ends normally.

        `pipelined`: on PostgreSQL, statements are sent without waiting for
        their answers until a row is fetched or the transaction commits, so
        a run of writes costs one round trip; an error in one of them is
        raised at that point rather than by its own `execute`. Only for
        blocks that never recover from a failed statement.
        """

    @contextmanager
    def read(self) -> Iterator[Cursor]:
        with self.transaction() as cursor:
            yield cursor

    def query(self, query: Query, params: Params = ()) -> list[Row]:
        with self.read() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()

    @abstractmethod
    def close(self) -> None: ...


def _render(query: Query) -> str:
    return query if isinstance(query, str) else query.as_string(None)


class _SQLiteCursor(Cursor):
    dialect = "sqlite"

    def __init__(self, raw: sqlite3.Cursor) -> None:
        self._raw = raw

    def execute(self, query: Query, params: Params = ()) -> None:
        self._raw.execute(_render(query).replace("%s", "?"), tuple(params))

    def executemany(self, query: Query, rows: Sequence[Params]) -> None:
        self._raw.executemany(_render(query).replace("%s", "?"), [tuple(r) for r in rows])

    def fetchall(self) -> list[Row]:
        if self._raw.description is None:
            return []
        names = [d[0] for d in self._raw.description]
        return [dict(zip(names, row, strict=True)) for row in self._raw.fetchall()]

    def lock_row_clause(self) -> sql.Composable:
        return sql.SQL("")


class SQLiteDatabase(Database):
    """One connection per thread; writes take the database lock at BEGIN.

    `BEGIN IMMEDIATE` makes a writer wait for the lock up front instead of
    failing half-way with SQLITE_BUSY when it upgrades from reading.
    """

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                str(self.path),
                timeout=30,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self, pipelined: bool = False) -> Iterator[Cursor]:
        conn = self._connection()
        with SQLITE_WRITE_LOCK.held(self.path):
            raw = conn.cursor()
            raw.execute("BEGIN IMMEDIATE")
            try:
                yield _SQLiteCursor(raw)
            except BaseException:
                raw.execute("ROLLBACK")
                raise
            else:
                raw.execute("COMMIT")
            finally:
                raw.close()

    @contextmanager
    def read(self) -> Iterator[Cursor]:
        conn = self._connection()
        raw = conn.cursor()
        raw.execute("BEGIN")
        try:
            yield _SQLiteCursor(raw)
        finally:
            raw.execute("COMMIT")
            raw.close()

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


class PostgresCursor(Cursor):
    dialect = "postgres"

    def __init__(self, raw: Any, pipeline: Any = None) -> None:
        self._raw = raw
        self._pipeline = pipeline

    def execute(self, query: Query, params: Params = ()) -> None:
        self._raw.execute(query, tuple(params) if params else None)

    def executemany(self, query: Query, rows: Sequence[Params]) -> None:
        self._raw.executemany(query, [tuple(r) for r in rows])

    def fetchall(self) -> list[Row]:
        if self._pipeline is not None and self._raw.pgresult is None:
            # In a pipeline the answer to the last statement (and those
            # queued before it) is only there once asked for.
            self._pipeline.sync()
        if self._raw.description is None:
            return []
        return list(self._raw.fetchall())

    def lock_row_clause(self) -> sql.Composable:
        return sql.SQL(" FOR UPDATE")


_BEGIN = sql.SQL("BEGIN")
_COMMIT = sql.SQL("COMMIT")


class PostgresDatabase(Database):
    dialect = "postgres"

    def __init__(self, conninfo: str, max_size: int = 10) -> None:
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        self.conninfo = conninfo
        self._pool: ConnectionPool[Any] = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_size,
            kwargs={"row_factory": dict_row, "autocommit": True},
            open=True,
        )

    @contextmanager
    def transaction(self, pipelined: bool = False) -> Iterator[Cursor]:
        with self._pool.connection() as conn:
            if not pipelined:
                with conn.transaction(), conn.cursor() as raw:
                    yield PostgresCursor(raw)
                return
            with self._pipelined(conn) as cursor:
                yield cursor

    @staticmethod
    @contextmanager
    def _pipelined(conn: Any) -> Iterator[Cursor]:
        """BEGIN and COMMIT as plain statements of the pipeline: psycopg's
        own transaction block syncs when it starts and again when it ends,
        three round trips that would carry nothing."""
        from psycopg import Error
        from psycopg.pq import TransactionStatus

        try:
            with conn.pipeline() as pipeline, conn.cursor() as raw:
                raw.execute(_BEGIN)
                yield PostgresCursor(raw, pipeline)
                raw.execute(_COMMIT)
        except BaseException:
            # A failed statement leaves the transaction aborted, any other
            # error leaves it open: it ends here, the connection back in
            # the autocommit state the pool hands out.
            if conn.info.transaction_status != TransactionStatus.IDLE:
                with suppress(Error):
                    conn.rollback()
            raise

    def query(self, query: Query, params: Params = ()) -> list[Row]:
        # One statement on the pool's autocommit connection: no BEGIN and
        # COMMIT around it, two round trips fewer. It sees the same as it
        # would inside a read-committed transaction of its own; the
        # connection's mode is never changed, so it goes back as it came.
        with self._pool.connection() as conn, conn.cursor() as raw:
            cursor = PostgresCursor(raw)
            cursor.execute(query, params)
            return cursor.fetchall()

    def close(self) -> None:
        self._pool.close()


def open_database(database_url: str, sqlite_path: Path, is_postgres: bool) -> Database:
    if is_postgres:
        return PostgresDatabase(database_url)
    sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    return SQLiteDatabase(sqlite_path)
