"""A cursor that sends runs of the same write statement together.

Projecting thousands of events one statement each is dominated by round
trips (PostgreSQL) and per-call overhead (SQLite). Consecutive executions of
the same write statement are queued and sent together; anything else — a
different statement, a read, the end of the batch — sends the queue first.
So statements still run in exactly the order the handlers issued them, and a
handler that reads sees every write before it.

A run of one upsert shape (`projections.statements`) goes out as multi-row
INSERTs: one statement binds hundreds of rows (SQLite), or carries all of
them as one JSON parameter (PostgreSQL), where `executemany` still pays the
driver's per-row cost (on PostgreSQL most of a replay's time). Rows with
distinct keys upserted in one statement end exactly as upserted one by one;
a key repeated within the run starts a new statement, so the later row still
wins.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

import orjson
from psycopg import sql
from psycopg.errors import UniqueViolation

from infra.database import Cursor, Params, Query, Row
from projections.statements import UpsertShape, upsert_json_sql, upsert_rows_sql, upsert_shape

_READS = ("SELECT", "WITH")
_read_statements: dict[str, bool] = {}
_KNOWN_STATEMENTS = 10_000

# Rows per multi-row statement: powers of two, so that a few statement texts
# per shape cover every run length (each is prepared and cached once), and
# within both databases' limits on parameters per statement.
_MAX_PARAMS = 32_766
_MAX_ROWS = 1024
_MIN_ROWS = 8


class BatchingCursor(Cursor):
    def __init__(self, inner: Cursor, conflicted: set[UpsertShape] | None = None) -> None:
        """`conflicted`: try runs of upserts as plain INSERTs first (PostgreSQL),
        for tables that are mostly filled by new keys (a rebuild's); shapes
        that met an existing key are added to it and upserted from then on."""
        self.inner = inner
        self.dialect = inner.dialect
        self._query: Query | None = None
        self._rows: list[Params] = []
        self._conflicted = conflicted

    def execute(self, query: Query, params: Params = ()) -> None:
        if query is self._query:  # the run goes on: only writes are ever queued
            self._rows.append(params)
            return
        if is_read(query):
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
        shape = upsert_shape(query) if isinstance(query, str) else None
        if shape is not None and isinstance(query, str) and len(rows) >= _MIN_ROWS:
            self._upsert_runs(shape, query, rows)
        elif len(rows) == 1:
            self.inner.execute(query, rows[0])
        else:
            self.inner.executemany(query, rows)

    def _upsert_runs(self, shape: UpsertShape, one_row: str, rows: list[Params]) -> None:
        positions = shape.key_positions
        if len(positions) == 1:  # the usual case, checked without a Python loop per row
            keys = list(map(itemgetter(positions[0]), rows))
            if len(set(keys)) == len(keys):
                self._upsert_distinct(shape, one_row, rows)
                return
        start, seen = 0, set[Any]()
        for i, row in enumerate(rows):
            key = row[positions[0]] if len(positions) == 1 else tuple(row[p] for p in positions)
            if key in seen:
                self._upsert_distinct(shape, one_row, rows[start:i])
                start, seen = i, set()
            seen.add(key)
        self._upsert_distinct(shape, one_row, rows[start:])

    def _upsert_distinct(self, shape: UpsertShape, one_row: str, rows: list[Params]) -> None:
        """Rows whose keys are all different, in as few statements as the limits allow."""
        if self.dialect == "postgres":
            # Long statements with thousands of placeholders are what psycopg
            # parses slowest: without the JSON route, one row per statement.
            if len(rows) < _MIN_ROWS or not self._upsert_json(shape, rows):
                self.inner.executemany(one_row, rows)
            return
        width = len(shape.names)
        chunk = _MAX_ROWS
        while chunk * width > _MAX_PARAMS:
            chunk //= 2
        done = 0
        while len(rows) - done >= _MIN_ROWS:
            while chunk > len(rows) - done:
                chunk //= 2
            part = rows[done : done + chunk]
            self.inner.execute(upsert_rows_sql(shape, chunk), list(chain.from_iterable(part)))
            done += chunk
        if done < len(rows):
            rest = rows[done:]
            if len(rest) == 1:
                self.inner.execute(one_row, rest[0])
            else:
                self.inner.executemany(one_row, rest)

    def _upsert_json(self, shape: UpsertShape, rows: list[Params]) -> bool:
        """All rows as one JSON parameter; False when a value has no JSON
        spelling that PostgreSQL would read as the parameter it replaces."""
        if not _JSON_EXACT.issuperset(map(type, chain.from_iterable(rows))):
            return False
        if shape.kinds is not None:
            document = _json_text(rows)
        else:
            names = shape.names
            document = _json_text([dict(zip(names, row, strict=True)) for row in rows])
        conflicted = self._conflicted
        if conflicted is not None and shape not in conflicted:
            # An upsert that meets no existing key costs PostgreSQL about
            # twice what the same INSERT does (speculative insertion); when
            # one key exists, the INSERT changes nothing and the upsert runs.
            self.inner.execute(_SAVEPOINT)
            try:
                self.inner.execute(upsert_json_sql(shape, on_conflict=False), [document])
            except UniqueViolation:
                self.inner.execute(_ROLLBACK_TO_SAVEPOINT)
                conflicted.add(shape)
            else:
                self.inner.execute(_RELEASE_SAVEPOINT)
                return True
        self.inner.execute(upsert_json_sql(shape), [document])
        return True


def _json_text(value: Any) -> str:
    """JSON text of rows of plain values: orjson's (several times faster than
    the standard encoder, the same document) unless it refuses a value."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # integers past 64 bits, lone surrogates
        return _JSON.encode(value)


_SAVEPOINT = "SAVEPOINT strata_insert_first"
_ROLLBACK_TO_SAVEPOINT = "ROLLBACK TO SAVEPOINT strata_insert_first"
_RELEASE_SAVEPOINT = "RELEASE SAVEPOINT strata_insert_first"

# A float's JSON spelling (Python's repr) is not always PostgreSQL's (`100.0`
# against `100` in a text column), nor are NaN and infinities JSON at all:
# rows with other types take the parameter route.
_JSON_EXACT = frozenset({str, int, bool, type(None)})
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def is_read(query: Query) -> bool:
    if isinstance(query, str):
        known = _read_statements.get(query)
        if known is None:
            known = query.lstrip().upper().startswith(_READS)
            if len(_read_statements) < _KNOWN_STATEMENTS:  # statements are shapes, not values
                _read_statements[query] = known
        return known
    return query.as_string(None).lstrip().upper().startswith(_READS)
