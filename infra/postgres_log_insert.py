"""How events go into the PostgreSQL log, with the read models' writes.

The recorder's own insert takes four round trips while it holds the lock
every writer of the log queues on. Here the insert goes one of three ways,
each falling back to the next (`docs/architecture.md`, "Read models written
with the insert"): one message of plain statements with the read models'
writes made beforehand, two trips with them made under the lock, or alone.
`insert_ways` counts the ways taken.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    ApplicationRecorder,
    InterfaceError,
    Notification,
    OperationalError,
    StoredEvent,
)
from eventsourcing.utils import retry
from psycopg import sql

from infra.conflicts import STALE_MARK, StaleRead
from infra.database import Cursor, Params, PostgresCursor
from infra.server_statements import ServerStatements

log = logging.getLogger(__name__)

_BEGIN = sql.SQL("BEGIN")
_COMMIT = sql.SQL("COMMIT")
# Inserts of up to this many events are prepared on the server; a bulk
# create's is a text of its own that a connection may never meet again.
PREPARED_INSERT_EVENTS = 16


class PreparedWrites(Protocol):
    """Statements made before the log's lock, sent with the insert as one
    message: `checks` ahead of the insert, `writes` after it. When a check
    fails the transaction fails, and the insert is tried the other way."""

    @property
    def checks(self) -> Sequence[tuple[str, Params]]: ...

    @property
    def writes(self) -> Sequence[tuple[str, Params]]: ...

    def committed(self, ids: Sequence[int]) -> None: ...


class WithInsert(Protocol):
    """Work done in the transaction that inserts events into the log (on
    PostgreSQL), while it holds the log's lock: what the projection runner
    does to bring read models up to date with a write in the write itself.

    `prepare_insert` makes the statements beforehand when it can, to go out
    with the insert. Otherwise `before_insert` queues statements ahead of
    the insert (their answers come with the insert's) and `after_insert`,
    given the inserted events as notifications and decoded, queues its
    writes and returns what to do once the transaction has committed.
    Whatever fails in these, the events are inserted again without them.
    """

    def prepare_insert(
        self,
        stored: Sequence[StoredEvent],
        events: Sequence[DomainEventProtocol[UUID]],
        log_table: sql.Composable,
    ) -> PreparedWrites | None: ...

    def before_insert(self, cursor: Cursor, log_table: sql.Composable) -> None: ...

    def after_insert(
        self,
        cursor: Cursor,
        notifications: Sequence[Notification],
        events: Sequence[DomainEventProtocol[UUID]],
    ) -> Callable[[], None]: ...


class PostgresLogInsert:
    """Inserts into the log of a PostgreSQL recorder, with `with_insert`'s
    work in the same transaction when it is set."""

    def __init__(
        self,
        recorder: ApplicationRecorder,
        decode: Callable[[StoredEvent], DomainEventProtocol[UUID]],
    ) -> None:
        self.recorder = recorder
        self._decode = decode
        self.with_insert: WithInsert | None = None
        # "one message" (read models' writes made beforehand), "two trips"
        # (made under the lock), "alone".
        self.insert_ways: Counter[str] = Counter()
        self._notify: str | None = None
        self._locks: list[str] | None = None
        self._reads_check: str | None = None
        self._moved: str | None = None
        self._insert_texts: dict[int, str] = {}
        self._server_statements = ServerStatements()

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert(
        self, stored: Sequence[StoredEvent], reads: Mapping[UUID, int] | None = None
    ) -> list[int]:
        """Insert `stored`, if none of `reads` (aggregate id: the version a
        command read) has moved on: else `StaleRead`, and nothing written."""
        check = self._check_reads(reads) if reads else None
        with_insert = self.with_insert
        if with_insert is None:
            return self._alone(stored, check)
        # Decoded, and the read models' statements made when they can be,
        # before the log's lock is taken: every writer waits while one
        # holds it.
        events = [self._decode(e) for e in stored]
        try:
            prepared = with_insert.prepare_insert(stored, events, self.log_table())
        except Exception:  # met again, and reported, by the way below
            prepared = None
        if prepared is not None:
            with suppress(_WithInsertFailed):  # a projection behind the head, or held
                ids = self._insert_in_one(stored, prepared, check)
                self.insert_ways["one message"] += 1
                return ids
        try:
            ids = self._insert_once(stored, check, with_insert=with_insert, events=events)
            self.insert_ways["two trips"] += 1
            return ids
        except _WithInsertFailed as failure:
            # The events were not written either: they go in alone, and
            # the runner's catch-up meets (and reports) the fault later.
            log.warning("writing read models with the log failed: %r", failure.__cause__)
        return self._alone(stored, check)

    def _alone(self, stored: Sequence[StoredEvent], check: _Statement | None) -> list[int]:
        ids = self._insert_once(stored, check)
        self.insert_ways["alone"] += 1
        return ids

    def _check_reads(self, reads: Mapping[UUID, int]) -> _Statement:
        """A statement that fails, under the log's lock, if an aggregate
        has an event past the version read: by a cast of text naming it,
        which is evaluated only for such a row (a constant error would be
        raised while planning), and which `_failing` tells apart."""
        if self._reads_check is None:
            mark = sql.SQL("({} || r.id::text)::int").format(sql.Literal(STALE_MARK))
            self._reads_check = self._moved_text(mark)
        return self._reads_check, _read_params(reads)

    def moved(self, reads: Mapping[UUID, int]) -> list[UUID]:
        """Which of `reads` (aggregate id: a version read) have an event
        past that version now."""
        if self._moved is None:
            self._moved = self._moved_text(sql.SQL("r.id"))
        with self.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute(self._moved, _read_params(reads), prepare=True)
            return [UUID(str(row["id"])) for row in cursor.fetchall()]

    def _moved_text(self, select: sql.Composable) -> str:
        return (
            sql.SQL(
                # LATERAL with LIMIT: one probe of the primary key per
                # aggregate (a join may be planned as a scan of the log).
                "SELECT {select} FROM unnest(%s::uuid[], %s::bigint[]) AS r(id, version),"
                " LATERAL (SELECT FROM {log} AS e WHERE e.originator_id = r.id"
                " AND e.originator_version > r.version LIMIT 1) AS moved"
            )
            .format(select=select, log=self.log_table())
            .as_string(None)
        )

    def _insert_once(
        self,
        stored: Sequence[StoredEvent],
        check: _Statement | None,
        with_insert: WithInsert | None = None,
        events: Sequence[DomainEventProtocol[UUID]] = (),
    ) -> list[int]:
        """The recorder's insert (its table lock, NOTIFY and statement), sent
        as one pipeline with BEGIN and COMMIT: one round trip where the
        recorder's transaction block takes four, all of them while holding
        the lock that every writer of the log queues on. `with_insert`
        needs a second one, after the insert, for its writes and the COMMIT."""
        recorder: Any = self.recorder
        rows = [
            recorder.construct_pg_stored_event(
                e.originator_id, e.originator_version, e.topic, e.state
            )
            for e in stored
        ]
        after_commit: Callable[[], None] | None = None
        with (
            recorder.datastore.get_connection() as conn,
            self._failing(conn, helped=with_insert is not None),
            conn.cursor() as cursor,
            conn.cursor() as insert,
            conn.cursor() as other,
        ):
            with conn.pipeline() as pipeline:
                cursor.execute(_BEGIN)
                for statement in recorder.lock_table_statements:
                    cursor.execute(statement, prepare=True)
                if check is not None:
                    cursor.execute(check[0], check[1], prepare=True)
                others = PostgresCursor(other, pipeline)
                if with_insert is not None:
                    with_insert.before_insert(others, self.log_table())
                cursor.execute(self._notify_statement())
                insert.execute(recorder.insert_events_statement, (rows,))
                if with_insert is not None:
                    pipeline.sync()
                    ids = _ids(insert)
                    after_commit = self._after_insert(with_insert, others, stored, ids, events)
                cursor.execute(_COMMIT)
            if with_insert is None:
                # The pipeline's end waited for every answer: a
                # conflicting version has been raised by now, and
                # the ids are here.
                ids = _ids(insert)
        if after_commit is not None:
            after_commit()
        return ids

    def _insert_in_one(
        self, stored: Sequence[StoredEvent], prepared: PreparedWrites, check: _Statement | None
    ) -> list[int]:
        """The insert and the read models' writes as one message of plain
        statements: the server runs it from BEGIN to COMMIT without waiting
        for this process, so the log's lock is held only while the server
        works. (Sent one by one, even pipelined, each statement after the
        lock waited for this process to take Python's lock back from its
        other threads.) Statements with parameters go as `EXECUTE` of a
        statement prepared on the connection (`infra.server_statements`)."""
        recorder: Any = self.recorder
        params = [
            v for e in stored for v in (e.originator_id, e.originator_version, e.topic, e.state)
        ]
        with recorder.datastore.get_connection() as conn:
            call = self._server_statements.caller(conn)
            before = [
                "BEGIN",
                # Planned once per connection: the plans PostgreSQL would
                # otherwise make per call, for statements that touch one row
                # each, cost more than running them.
                "SET LOCAL plan_cache_mode TO force_generic_plan",
                *self._lock_texts(),
                *([call(*check)] if check is not None else []),
                *(call(q, p) for q, p in prepared.checks),
                self._notify_statement(),
            ]
            few = len(stored) <= PREPARED_INSERT_EVENTS
            insert = call(self._insert_text(len(stored)), params, prepare=few)
            after = [*(call(q, p) for q, p in prepared.writes), "COMMIT"]
            message = ";\n".join([*before, insert, *after])
            try:
                with self._failing(conn, helped=True), conn.cursor() as cursor:
                    cursor.execute(message)
                    for _ in before:
                        cursor.nextset()
                    ids = _ids(cursor)
            except _WithInsertFailed as failure:
                self._server_statements.failed(conn, failure.__cause__)
                raise
        prepared.committed(ids)
        return ids

    def _insert_text(self, count: int) -> str:
        """The insert of `count` events into the log, as text."""
        text = self._insert_texts.get(count)
        if text is None:
            values = sql.SQL(", ").join([sql.SQL("(%s, %s, %s, %s)")] * count)
            text = self._insert_texts[count] = (
                sql.SQL(
                    "INSERT INTO {} (originator_id, originator_version, topic, state)"
                    " VALUES {} RETURNING notification_id"
                )
                .format(self.log_table(), values)
                .as_string(None)
            )
        return text

    @contextmanager
    def _failing(self, conn: Any, helped: bool) -> Iterator[None]:
        """Whatever fails in the block, the connection goes back to the pool
        outside any transaction, as the pool hands them out. The insert's
        own conflict (a lost version race) is the caller's to handle; when
        the read models' statements were `helped` into the transaction, any
        other database error has the insert tried again without them."""
        from psycopg import Error, IntegrityError
        from psycopg.pq import TransactionStatus

        try:
            yield
        except BaseException as error:
            if conn.info.transaction_status != TransactionStatus.IDLE:
                with suppress(Error):
                    conn.rollback()
            if isinstance(error, Error) and STALE_MARK in str(error):
                raise StaleRead(str(error)) from error
            race = isinstance(error, IntegrityError) and self._is_log_conflict(error)
            if helped and isinstance(error, Error) and not race:
                raise _WithInsertFailed() from error
            raise

    def _is_log_conflict(self, error: Any) -> bool:
        """Whether a unique violation is the log's own: the same version of
        an aggregate written twice."""
        return bool(error.diag.table_name == self.recorder.events_table_name)  # type: ignore[attr-defined]

    @staticmethod
    def _after_insert(
        with_insert: WithInsert,
        cursor: Cursor,
        stored: Sequence[StoredEvent],
        ids: list[int],
        events: Sequence[DomainEventProtocol[UUID]],
    ) -> Callable[[], None]:
        notifications = [
            Notification(
                id=notification_id,
                originator_id=e.originator_id,
                originator_version=e.originator_version,
                topic=e.topic,
                state=e.state,
            )
            for notification_id, e in zip(ids, stored, strict=True)
        ]
        try:
            return with_insert.after_insert(cursor, notifications, events)
        except Exception as error:
            raise _WithInsertFailed() from error

    def _lock_texts(self) -> list[str]:
        """The recorder's lock statements as text (they take no parameters)."""
        if self._locks is None:
            statements: list[Any] = self.recorder.lock_table_statements  # type: ignore[attr-defined]
            self._locks = [s if isinstance(s, str) else s.as_string(None) for s in statements]
        return self._locks

    def _notify_statement(self) -> str:
        if self._notify is None:
            channel = sql.Identifier(self.recorder.channel_name)  # type: ignore[attr-defined]
            self._notify = sql.SQL("NOTIFY {}").format(channel).as_string(None)
        return self._notify

    def log_table(self) -> sql.Composable:
        datastore: Any = self.recorder.datastore  # type: ignore[attr-defined]
        return sql.Identifier(datastore.schema, self.recorder.events_table_name)  # type: ignore[attr-defined]


_Statement = tuple[str, Params]


class _WithInsertFailed(Exception):
    """What `with_insert` or its writes raised, so that the insert is tried
    again without it (the events were rolled back with its writes)."""


def _read_params(reads: Mapping[UUID, int]) -> list[str]:
    """Ids and versions as array literals of their own making: uuids and
    integers need no quoting, and the client's list adapter costs more than
    the statement they are for."""
    ids = "{" + ",".join(str(i) for i in reads) + "}"
    versions = "{" + ",".join(str(v) for v in reads.values()) + "}"
    return [ids, versions]


def _ids(insert: Any) -> list[int]:
    return [int(row["notification_id"]) for row in insert.fetchall()]
