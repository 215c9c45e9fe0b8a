"""A write's projection statements, made before the log's lock is taken.

Every writer of the log waits while one holds its lock, so what is done in
that time sets how many writes the log takes per second. When the handlers
of a write's events only write (no read of a read model, whose rows must be
read under the lock), their statements are recorded here first, and the
insert sends them with its own statements in one round trip, no Python in
between. Notification ids are not known before the insert: where a
statement takes one, a `LogId` stands in and the statement reads the id
from the log by the event's key, inside the same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import sql

from infra.database import Cursor, Params, Query, Row
from projections.batching import is_read

_PLACEHOLDER = re.compile(r"(%%|%s)")


@dataclass(frozen=True)
class LogId:
    """The notification id of the event with this key, still to be issued."""

    originator_id: UUID
    version: int


class NeedsRead(Exception):
    """A handler reads: its statements cannot be made before the lock."""


class RecordingCursor(Cursor):
    """Keeps the statements it is given, in order; refuses reads."""

    dialect = "postgres"

    def __init__(self) -> None:
        self.statements: list[tuple[Query, Params]] = []

    def execute(self, query: Query, params: Params = ()) -> None:
        if is_read(query):
            raise NeedsRead()
        self.statements.append((query, params))

    def executemany(self, query: Query, rows: Sequence[Params]) -> None:
        for row in rows:
            self.execute(query, row)

    def fetchall(self) -> list[Row]:
        raise NeedsRead()

    def lock_row_clause(self) -> sql.Composable:
        return sql.SQL(" FOR UPDATE")


class IdLookups:
    """Rewrites statements whose parameters hold `LogId`s so that each such
    parameter becomes a lookup of the id in the log table."""

    def __init__(self, log_table: sql.Composable) -> None:
        self._lookup = (
            sql.SQL(
                "(SELECT notification_id FROM {} WHERE originator_id = %s"
                " AND originator_version = %s)"
            )
            .format(log_table)
            .as_string(None)
        )
        self._texts: dict[tuple[str, tuple[int, ...]], str] = {}

    def statement(self, query: Query, params: Params) -> tuple[str, list[Any]]:
        text = query if isinstance(query, str) else query.as_string(None)
        values = list(params)
        where = tuple(i for i, v in enumerate(values) if isinstance(v, LogId))
        if not where:
            return text, values
        rewritten = self._texts.get((text, where))
        if rewritten is None:
            rewritten = self._texts[(text, where)] = self._rewrite(text, set(where))
        spliced: list[Any] = []
        for value in values:
            if isinstance(value, LogId):
                spliced += [value.originator_id, value.version]
            else:
                spliced.append(value)
        return rewritten, spliced

    def _rewrite(self, text: str, where: set[int]) -> str:
        out: list[str] = []
        index = 0
        for part in _PLACEHOLDER.split(text):
            if part == "%s":
                out.append(self._lookup if index in where else part)
                index += 1
            else:
                out.append(part)
        return "".join(out)
