"""A cursor that sends runs of the same write statement as one executemany.

Projecting thousands of events one statement each is dominated by round
trips (PostgreSQL) and per-call overhead (SQLite). Consecutive executions of
the same write statement are queued and sent together; anything else — a
different statement, a read, the end of the batch — sends the queue first.
So statements still run in exactly the order the handlers issued them, and a
handler that reads sees every write before it.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from infra.database import Cursor, Params, Query, Row

_READS = ("SELECT", "WITH")


class BatchingCursor(Cursor):
    def __init__(self, inner: Cursor) -> None:
        self.inner = inner
        self.dialect = inner.dialect
        self._query: Query | None = None
        self._rows: list[Params] = []

    def execute(self, query: Query, params: Params = ()) -> None:
        if _is_read(query):
            self.flush()
            self.inner.execute(query, params)
            return
        if self._query is not None and query != self._query:
            self.flush()
        self._query = query
        self._rows.append(params)

    def executemany(self, query: Query, rows: Sequence[Params]) -> None:
        self.flush()
        self.inner.executemany(query, rows)

    def fetchall(self) -> list[Row]:
        self.flush()
        return self.inner.fetchall()

    def lock_row_clause(self) -> sql.Composable:
        return self.inner.lock_row_clause()

    def flush(self) -> None:
        query, rows = self._query, self._rows
        self._query, self._rows = None, []
        if query is None:
            return
        if len(rows) == 1:
            self.inner.execute(query, rows[0])
        else:
            self.inner.executemany(query, rows)


def _is_read(query: Query) -> bool:
    text = query if isinstance(query, str) else query.as_string(None)
    return text.lstrip().upper().startswith(_READS)
