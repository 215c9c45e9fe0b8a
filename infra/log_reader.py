"""The log in pages of bare rows, for readers that walk through all of it.

The recorders' `select_notifications` builds a dictionary and a `Notification`
per row and converts every originator id with `uuid.UUID`; a replay reads
every row of the log, so this reader selects just the columns it needs as
tuples, a page at a time in notification-id order.

SQLite pages by key (each page a range scan of the rowid). PostgreSQL streams
one query through a server-side cursor instead: right after a burst of writes
its statistics still say the log is small, and it then answers each keyset
page by sorting every remaining row (on disk, past `work_mem`), which made
reading the log quadratic. A cursor is planned for its first rows, so it
walks the notification-id index once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder
from psycopg import sql

# notification id, topic, originator id (text on SQLite), originator version, state
LogRow = tuple[int, str, UUID | str, int, bytes]


class LogReader:
    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.recorder = recorder
        self.datastore: Any = recorder.datastore  # type: ignore[attr-defined]
        self.table: str = recorder.events_table_name  # type: ignore[attr-defined]
        self.postgres = type(recorder).__module__ == "eventsourcing.postgres"

    def pages(
        self, after: int, stop: int, topics: Sequence[str] = (), size: int = 1000
    ) -> Iterator[list[LogRow]]:
        """Rows after `after` up to `stop` (inclusive), `size` at a time; an
        empty topic list means every topic."""
        if after >= stop:
            return iter(())
        if self.postgres:
            return self._postgres_pages(after, stop, list(topics), size)
        return self._sqlite_pages(after, stop, list(topics), size)

    def _postgres_pages(
        self, after: int, stop: int, topics: list[str], size: int
    ) -> Iterator[list[LogRow]]:
        from psycopg.rows import tuple_row

        table = sql.Identifier(self.datastore.schema, self.table)
        statement = _select(table, "notification_id", topics, array=True, limit=False)
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor(name="strata_log_reader", row_factory=tuple_row, binary=True) as cursor,
        ):
            cursor.itersize = size
            cursor.execute(statement, [after, stop, *([topics] if topics else [])])
            while rows := cursor.fetchmany(size):
                yield rows
                if len(rows) < size:
                    return

    def _sqlite_pages(
        self, after: int, stop: int, topics: list[str], size: int
    ) -> Iterator[list[LogRow]]:
        statement = _select(sql.Identifier(self.table), "rowid", topics, array=False, limit=True)
        text = statement.as_string(None).replace("%s", "?")
        while after < stop:
            with self.datastore.transaction(commit=False) as cursor:
                raw = cursor.sqlite_cursor
                raw.row_factory = None  # plain tuples, not the connection's sqlite3.Row
                raw.execute(text, [after, stop, *topics, size])
                rows: list[LogRow] = raw.fetchall()
            if rows:
                yield rows
            if len(rows) < size:
                return
            after = rows[-1][0]


def _select(
    table: sql.Composable, position: str, topics: list[str], array: bool, limit: bool
) -> sql.Composed:
    where: sql.Composable
    if not topics:
        where = sql.SQL("")
    elif array:  # one parameter whatever the number of topics
        where = sql.SQL(" AND topic = ANY(%s)")
    else:
        where = sql.SQL(" AND topic IN ({})").format(
            sql.SQL(", ").join(sql.Placeholder() * len(topics))
        )
    return sql.SQL(
        "SELECT {position}, topic, originator_id, originator_version, state FROM {table}"
        " WHERE {position} > %s AND {position} <= %s{where} ORDER BY {position}{limit}"
    ).format(
        position=sql.Identifier(position),
        table=table,
        where=where,
        limit=sql.SQL(" LIMIT %s") if limit else sql.SQL(""),
    )
