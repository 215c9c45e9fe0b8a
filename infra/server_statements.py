"""Statements prepared once per PostgreSQL connection, then run by name
inside a message of plain statements.

The event store sends an insert and its read models' writes as one message
of plain statements (the simple protocol), so that the server runs it from
BEGIN to COMMIT without waiting for the client. Plain statements are parsed
and planned afresh every time: under a load of creates that was about two
fifths of the server's work for each one (`pg_stat_statements` with
`track_planning`). A statement prepared on the connection beforehand is
called in the message as `EXECUTE name(literal, ...)`, which PostgreSQL
plans once and keeps.

A statement is prepared the first time a connection meets it, in a round
trip of its own outside any transaction: if the server cannot prepare it
(say a parameter whose type it cannot infer), the statement is sent as plain
text from then on, and nothing else is affected.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from psycopg import ClientCursor, Connection, Error, sql
from psycopg.errors import DuplicatePreparedStatement, InvalidSqlStatementName
from psycopg.pq import TransactionStatus

_PLACEHOLDER = re.compile(r"(%%|%s)")
# A process meets a few dozen statement texts; past this many something
# composes texts per call, and preparing them would only fill the server.
MAX_STATEMENTS = 1000


class ServerStatements:
    """Which statement texts are prepared on which connection, by what name."""

    def __init__(self, prefix: str = "strata") -> None:
        self._prefix = prefix
        self._names: dict[str, str] = {}
        self._refused: set[str] = set()
        self._prepared: weakref.WeakKeyDictionary[Connection[Any], set[str]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def caller(self, conn: Connection[Any]) -> Callable[..., str]:
        """What renders statements for one message on `conn`: called with a
        statement's text and parameters (and `prepare=False` for a text not
        worth preparing), it gives one plain statement, `EXECUTE` of the
        prepared statement when there is one (prepared now if `conn` has not
        seen it), else the text with the parameters rendered into it."""
        render = ClientCursor(conn).mogrify

        def call(text: str, params: Sequence[Any], prepare: bool = True) -> str:
            name = self._ready(conn, text) if prepare else None
            if name is None:
                return render(text, params)
            if not params:
                return f"EXECUTE {name}"
            return render(f"EXECUTE {name}({', '.join(['%s'] * len(params))})", params)

        return call

    def failed(self, conn: Connection[Any], error: BaseException | None) -> None:
        """A message on `conn` failed with `error`: when it was for want of
        a prepared statement (the server lost them, say a pooler reset the
        session), ask again before calling a name there."""
        if isinstance(error, InvalidSqlStatementName):
            with self._lock:
                self._prepared.pop(conn, None)

    def _ready(self, conn: Connection[Any], text: str) -> str | None:
        with self._lock:
            if text in self._refused:
                return None
            name = self._names.get(text)
            if name is None:
                if len(self._names) >= MAX_STATEMENTS:
                    return None
                name = self._names[text] = f"{self._prefix}_{len(self._names) + 1}"
            if name in self._prepared.get(conn, ()):
                return name
        if conn.info.transaction_status != TransactionStatus.IDLE:
            return None  # only ever prepared between transactions
        try:
            conn.execute(
                sql.SQL("PREPARE {} AS {}").format(sql.Identifier(name), sql.SQL(_numbered(text)))
            )
        except DuplicatePreparedStatement:
            pass  # prepared before the server was thought to have lost it
        except Error:
            with self._lock:
                self._refused.add(text)
            return None
        with self._lock:
            self._prepared.setdefault(conn, set()).add(name)
        return name


def _numbered(text: str) -> str:
    """psycopg's `%s` placeholders as the server's `$1, $2, ...`."""
    out: list[str] = []
    index = 0
    for part in _PLACEHOLDER.split(text):
        if part == "%s":
            index += 1
            out.append(f"${index}")
        elif part == "%%":
            out.append("%")
        else:
            out.append(part)
    return "".join(out)
