"""The one event log, on SQLite or PostgreSQL, through the eventsourcing library.

Strata uses the library's recorders (their insert path keeps notification ids
committed in order, which tailing readers depend on) and its mapper for
decoding and upcasting, but saves through its own `save` so that every stored
event carries the request's metadata under the `_meta` key of its state: who,
from where, which request, which idempotency key. Decoded events keep that
key in their `__dict__`, where `event_meta()` finds it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import (
    ApplicationRecorder,
    DatetimeAsISO,
    DecimalAsStr,
    InterfaceError,
    JSONTranscoder,
    Mapper,
    Notification,
    OperationalError,
    StoredEvent,
    UUIDAsHex,
)
from eventsourcing.persistence import (
    EventStore as LibraryEventStore,
)
from eventsourcing.utils import get_topic, retry
from psycopg import sql

from infra.database import Cursor, Params, PostgresCursor
from infra.event_decoder import EventDecoder
from infra.group_commit import GroupCommitter
from infra.log_reader import LogReader
from infra.personal_data import RULES, SHRED_TOPICS, PersonalDataVault
from infra.server_statements import ServerStatements
from infra.settings import Settings
from infra.snapshots import SnapshotStore
from infra.sqlite_lock import SQLITE_WRITE_LOCK

A = TypeVar("A", bound=Aggregate)

log = logging.getLogger(__name__)

META_KEY = "_meta"

_BEGIN = sql.SQL("BEGIN")
_COMMIT = sql.SQL("COMMIT")
# Inserts of up to this many events are prepared on the server; a bulk
# create's is a text of its own that a connection may never meet again.
PREPARED_INSERT_EVENTS = 16


SYSTEM_META: dict[str, Any] = {
    "user_id": "system",
    "project_id": "system",
    "request_id": "",
    "source": "internal",
    "idempotency_key": None,
}


def event_meta(event: object) -> dict[str, Any]:
    """The metadata saved with an event (who, from where, which request)."""
    meta = vars(event).get(META_KEY)
    return dict(meta) if isinstance(meta, dict) else dict(SYSTEM_META)


def make_transcoder() -> JSONTranscoder:
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    transcoder.register(DecimalAsStr())
    return transcoder


class MetadataMapper(Mapper[UUID]):
    vault: PersonalDataVault | None = None

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        if self.vault is not None and stored_event.topic in RULES:
            state = self.transcoder.decode(stored_event.state)
            if PersonalDataVault.is_sealed(state):
                stored_event = StoredEvent(
                    originator_id=stored_event.originator_id,
                    originator_version=stored_event.originator_version,
                    topic=stored_event.topic,
                    state=self.transcoder.encode(self.vault.reveal(state)),
                )
        return super().to_domain_event(stored_event)

    def to_stored_event_with_meta(
        self, domain_event: DomainEventProtocol[UUID], meta: Mapping[str, Any]
    ) -> StoredEvent:
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        state[META_KEY] = dict(meta)
        topic = get_topic(type(domain_event))
        if self.vault is not None:
            state = self.vault.seal(topic, originator_id, state)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=topic,
            state=self.transcoder.encode(state),
        )


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


class EventStore:
    """Save aggregates atomically with metadata; load them; read the log."""

    def __init__(self, recorder: ApplicationRecorder, snapshot_every: int = 100) -> None:
        self.recorder = recorder
        self._serialise_writes = type(recorder).__module__ == "eventsourcing.sqlite"
        self.committer = GroupCommitter(self._insert)
        self.mapper = MetadataMapper(transcoder=make_transcoder())
        self.vault = PersonalDataVault(
            recorder.datastore,  # type: ignore[attr-defined]
            "sqlite" if self._serialise_writes else "postgres",
        )
        self.mapper.vault = self.vault
        self.decoder = EventDecoder(
            self.mapper,
            text_ids_are_uuids=self._serialise_writes
            and recorder.datastore.originator_id_type == "uuid",  # type: ignore[attr-defined]
        )
        self.log = LogReader(recorder)
        self.snapshots = SnapshotStore(
            recorder.datastore,  # type: ignore[attr-defined]
            self._serialise_writes,
            self.mapper,
            snapshot_every,
        )
        self._library_store: LibraryEventStore[UUID] = LibraryEventStore(
            mapper=self.mapper, recorder=recorder
        )
        self.with_insert: WithInsert | None = None
        # How inserts went on PostgreSQL: "one message" (read models' writes
        # made beforehand), "two trips" (made under the lock), "alone".
        self.insert_ways: Counter[str] = Counter()
        self._notify: str | None = None
        self._locks: list[str] | None = None
        self._insert_texts: dict[int, str] = {}
        self._server_statements = ServerStatements()

    @property
    def inserts_with_others(self) -> bool:
        """Whether `with_insert` is used: PostgreSQL only. SQLite's insert
        goes through the library's recorder, on a connection of its own."""
        return not self._serialise_writes

    def save(self, aggregates: Iterable[Aggregate], meta: Mapping[str, Any]) -> list[int]:
        """Record every pending event of every aggregate in one transaction.

        Returns the notification ids; raises the library's IntegrityError
        when another writer got to one of the aggregates first.
        """
        saved = [(agg, agg.collect_events()) for agg in aggregates]
        pending = [event for _, events in saved for event in events]
        if not pending:
            return []
        stored = [self.mapper.to_stored_event_with_meta(e, meta) for e in pending]
        ids = self.committer.insert(stored)
        # Forgetting a person follows the commit that deleted them; a crash in
        # between is caught by `forget_deleted` on the next start.
        for event in stored:
            if event.topic in SHRED_TOPICS:
                self.vault.shred(event.originator_id)
        for aggregate, events in saved:
            if self.snapshots.due(aggregate, len(events)):
                self.snapshots.take(aggregate)
        return ids

    def forget_deleted(self) -> int:
        """Destroy the keys of every deleted person (idempotent); returns how many."""
        count, position = 0, 0
        while True:
            batch = self.notifications(position, 1000, topics=sorted(SHRED_TOPICS))
            if not batch:
                return count
            for notification in batch:
                if self.vault.has_key(notification.originator_id):
                    self.vault.shred(notification.originator_id)
                    count += 1
            position = batch[-1].id

    def _insert(self, stored: Sequence[StoredEvent]) -> Sequence[int] | None:
        if self._serialise_writes:
            with SQLITE_WRITE_LOCK.held(self.recorder.datastore.pool.db_name):  # type: ignore[attr-defined]
                return self.recorder.insert_events(stored)
        ids: list[int] = self._postgres_insert(stored)
        return ids

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _postgres_insert(self, stored: Sequence[StoredEvent]) -> list[int]:
        with_insert = self.with_insert
        if with_insert is None:
            return self._alone(stored)
        # Decoded, and the read models' statements made when they can be,
        # before the log's lock is taken: every writer waits while one
        # holds it.
        events = [self.decode(e) for e in stored]
        try:
            prepared = with_insert.prepare_insert(stored, events, self._log_table())
        except Exception:  # met again, and reported, by the way below
            prepared = None
        if prepared is not None:
            with suppress(_WithInsertFailed):  # a projection behind the head, or held
                ids = self._postgres_insert_in_one(stored, prepared)
                self.insert_ways["one message"] += 1
                return ids
        try:
            ids = self._postgres_insert_once(stored, with_insert=with_insert, events=events)
            self.insert_ways["two trips"] += 1
            return ids
        except _WithInsertFailed as failure:
            # The events were not written either: they go in alone, and
            # the runner's catch-up meets (and reports) the fault later.
            log.warning("writing read models with the log failed: %r", failure.__cause__)
        return self._alone(stored)

    def _alone(self, stored: Sequence[StoredEvent]) -> list[int]:
        ids = self._postgres_insert_once(stored)
        self.insert_ways["alone"] += 1
        return ids

    def _postgres_insert_once(
        self,
        stored: Sequence[StoredEvent],
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
                others = PostgresCursor(other, pipeline)
                if with_insert is not None:
                    with_insert.before_insert(others, self._log_table())
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

    def _postgres_insert_in_one(
        self, stored: Sequence[StoredEvent], prepared: PreparedWrites
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
                .format(self._log_table(), values)
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

    def _log_table(self) -> sql.Composable:
        datastore: Any = self.recorder.datastore  # type: ignore[attr-defined]
        return sql.Identifier(datastore.schema, self.recorder.events_table_name)  # type: ignore[attr-defined]

    def get(self, cls: type[A], aggregate_id: UUID) -> A | None:
        aggregate: Aggregate | None = self.snapshots.latest(aggregate_id)
        after = aggregate.version if aggregate is not None else None
        for domain_event in self._library_store.get(aggregate_id, gt=after):
            aggregate = domain_event.mutate(aggregate)  # type: ignore[attr-defined]
        if aggregate is None:
            return None
        self.snapshots.loaded(aggregate)
        if not isinstance(aggregate, cls):
            return None
        return aggregate

    def history(self, aggregate_id: UUID) -> list[DomainEventProtocol[UUID]]:
        return list(self._library_store.get(aggregate_id))

    def notifications(
        self,
        after: int,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
    ) -> Sequence[Notification]:
        return self.recorder.select_notifications(
            start=after,
            limit=limit,
            stop=stop,
            topics=topics,
            inclusive_of_start=False,
        )

    def max_notification_id(self) -> int:
        return self.recorder.max_notification_id() or 0

    def notifications_to_head(
        self, after: int, limit: int, topics: Sequence[str] = ()
    ) -> tuple[Sequence[Notification], int]:
        """The head of the log and up to `limit` notifications after `after`
        (of `topics`; none: every topic), as one moment of the log saw them.

        What a catch-up reads first. On PostgreSQL it is one statement
        instead of two round trips; both parts share its snapshot, so no
        notification passes the head.
        """
        if self._serialise_writes:
            head = self.max_notification_id()
            return self.notifications(after, limit, stop=head, topics=topics), head
        return self._postgres_to_head(after, limit, list(topics))

    def _postgres_to_head(
        self, after: int, limit: int, topics: list[str]
    ) -> tuple[list[Notification], int]:
        datastore: Any = self.recorder.datastore  # type: ignore[attr-defined]
        table = self._log_table()
        params: list[Any] = [after, *([topics] if topics else []), limit]
        statement = sql.SQL(
            "SELECT h.head, e.* FROM (SELECT MAX(notification_id) AS head FROM {table}) AS h"
            " LEFT JOIN LATERAL (SELECT notification_id, originator_id, originator_version,"
            " topic, state FROM {table} WHERE notification_id > %s{where}"
            " ORDER BY notification_id LIMIT %s) AS e ON TRUE ORDER BY e.notification_id"
        ).format(
            table=table,
            where=sql.SQL(" AND topic = ANY(%s)") if topics else sql.SQL(""),
        )
        with datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, params, prepare=True)
            rows = cursor.fetchall()
        head = int(rows[0]["head"] or 0) if rows else 0
        return [
            Notification(
                id=row["notification_id"],
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
            for row in rows
            if row["notification_id"] is not None
        ], head

    def decode(self, stored: StoredEvent) -> DomainEventProtocol[UUID]:
        return self.decoder.decode(stored)

    def decoded_pages(
        self, after: int, stop: int, topics: Sequence[str] = (), size: int = 1000
    ) -> Iterator[list[tuple[int, DomainEventProtocol[UUID]]]]:
        """The log after `after` up to `stop`, decoded, a page at a time
        (notification id and event): what a replay reads."""
        decode = self.decoder.decode_parts
        for rows in self.log.pages(after, stop, topics, size):
            yield [
                (n, decode(topic, oid, version, state)) for n, topic, oid, version, state in rows
            ]


class _WithInsertFailed(Exception):
    """What `with_insert` or its writes raised, so that the insert is tried
    again without it (the events were rolled back with its writes)."""


def _ids(insert: Any) -> list[int]:
    return [int(row["notification_id"]) for row in insert.fetchall()]


def open_recorder(settings: Settings) -> ApplicationRecorder:
    """The library's recorder for the configured database, tables created."""
    recorder: ApplicationRecorder
    if settings.is_postgres:
        from eventsourcing.postgres import (
            PostgresApplicationRecorder,
            PostgresDatastore,
        )
        from psycopg.conninfo import conninfo_to_dict

        params = conninfo_to_dict(settings.database_url)
        datastore = PostgresDatastore(
            dbname=str(params.get("dbname", "strata")),
            host=str(params.get("host", "127.0.0.1")),
            port=str(params.get("port", "5432")),
            user=str(params.get("user", "postgres")),
            password=str(params.get("password", "")),
            pool_size=4,
            max_overflow=8,
            lock_timeout=10,
        )
        recorder = PostgresApplicationRecorder(datastore, events_table_name="events")
    else:
        from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        sqlite_store = SQLiteDatastore(str(settings.sqlite_path), lock_timeout=10)
        recorder = SQLiteApplicationRecorder(sqlite_store, events_table_name="events")
    recorder.create_table()  # type: ignore[attr-defined]
    return recorder
