"""The one event log, on SQLite or PostgreSQL, through the eventsourcing library.

Strata uses the library's recorders (their insert path keeps notification ids
committed in order, which tailing readers depend on) and its mapper for
decoding and upcasting, but saves through its own `save` so that every stored
event carries the request's metadata under the `_meta` key of its state: who,
from where, which request, which idempotency key. Decoded events keep that
key in their `__dict__`, where `event_meta()` finds it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import (
    ApplicationRecorder,
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    Notification,
    RecordConflictError,
    StoredEvent,
    UUIDAsHex,
)
from eventsourcing.persistence import (
    EventStore as LibraryEventStore,
)
from eventsourcing.utils import get_topic
from psycopg import sql

from infra.conflicts import STALE_MARK, StaleRead, moved_aggregate
from infra.event_decoder import EventDecoder
from infra.group_commit import GroupCommitter
from infra.log_reader import LogReader
from infra.personal_data import RULES, SHRED_TOPICS, PersonalDataVault
from infra.postgres_log_insert import PostgresLogInsert, WithInsert
from infra.settings import Settings
from infra.snapshots import SnapshotStore
from infra.sqlite_lock import SQLITE_WRITE_LOCK

A = TypeVar("A", bound=Aggregate)

META_KEY = "_meta"


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


class EventStore:
    """Save aggregates atomically with metadata; load them; read the log."""

    def __init__(self, recorder: ApplicationRecorder, snapshot_every: int = 100) -> None:
        self.recorder = recorder
        self._serialise_writes = type(recorder).__module__ == "eventsourcing.sqlite"
        self.committer = GroupCommitter(self._insert, blame=_moved)
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
        self._postgres = (
            None if self._serialise_writes else PostgresLogInsert(recorder, self.decode)
        )
        self._sqlite_reads_check: str | None = None

    @property
    def with_insert(self) -> WithInsert | None:
        """What each insert into the PostgreSQL log does besides (see
        `infra.postgres_log_insert`)."""
        return self._postgres.with_insert if self._postgres is not None else None

    @with_insert.setter
    def with_insert(self, value: WithInsert | None) -> None:
        if self._postgres is None:
            raise ValueError("read models are written with the insert on PostgreSQL only")
        self._postgres.with_insert = value

    @property
    def insert_ways(self) -> Counter[str]:
        """How inserts went on PostgreSQL: "one message", "two trips", "alone"."""
        return self._postgres.insert_ways if self._postgres is not None else Counter()

    @property
    def inserts_with_others(self) -> bool:
        """Whether `with_insert` is used: PostgreSQL only. SQLite's insert
        goes through the library's recorder, on a connection of its own."""
        return not self._serialise_writes

    def save(
        self,
        aggregates: Iterable[Aggregate],
        meta: Mapping[str, Any],
        reads: Sequence[Aggregate] = (),
    ) -> list[int]:
        """Record every pending event of every aggregate in one transaction.

        Returns the notification ids; raises the library's IntegrityError
        when another writer got to one of the aggregates first, and
        `StaleRead` when one of `reads` (aggregates read and left unchanged)
        has moved on past its version. Both are `RecordConflictError`s.
        """
        saved = [(agg, agg.collect_events()) for agg in aggregates]
        pending = [event for _, events in saved for event in events]
        if not pending:
            return []
        stored = [self.mapper.to_stored_event_with_meta(e, meta) for e in pending]
        ids = self.committer.insert(stored, _versions(reads))
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

    def _insert(
        self, stored: Sequence[StoredEvent], reads: Mapping[UUID, int]
    ) -> Sequence[int] | None:
        if self._postgres is None:
            with SQLITE_WRITE_LOCK.held(self.recorder.datastore.pool.db_name):  # type: ignore[attr-defined]
                if reads:
                    self._check_reads_sqlite(reads)
                return self.recorder.insert_events(stored)
        ids: list[int] = self._postgres.insert(stored, reads)
        return ids

    def _check_reads_sqlite(self, reads: Mapping[UUID, int]) -> None:
        """`StaleRead` if one of `reads` has an event past the version read.
        Checked under the write lock, which every writer of the log holds
        while it inserts: nothing can be written between this and the insert."""
        for aggregate_id in self._moved_sqlite(reads, first_only=True):
            raise StaleRead(STALE_MARK + str(aggregate_id))

    def moved(self, reads: Sequence[Aggregate]) -> list[UUID]:
        """Which of `reads` have an event past their version now."""
        if self._postgres is not None:
            return self._postgres.moved(_versions(reads))
        return self._moved_sqlite(_versions(reads))

    def _moved_sqlite(self, reads: Mapping[UUID, int], first_only: bool = False) -> list[UUID]:
        if self._sqlite_reads_check is None:
            self._sqlite_reads_check = (
                sql.SQL(
                    "SELECT 1 FROM {} WHERE originator_id = ? AND originator_version > ? LIMIT 1"
                )
                .format(sql.Identifier(self.recorder.events_table_name))  # type: ignore[attr-defined]
                .as_string(None)
            )
        moved: list[UUID] = []
        with self.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            for aggregate_id, version in reads.items():
                cursor.execute(self._sqlite_reads_check, (aggregate_id.hex, version))
                if cursor.fetchone() is not None:
                    moved.append(aggregate_id)
                    if first_only:
                        break
        return moved

    def get(self, cls: type[A], aggregate_id: UUID, base: Aggregate | None = None) -> A | None:
        """The aggregate as the log has it now; from `base` (a state it had,
        which the caller no longer needs) on when given, else from its
        newest snapshot."""
        aggregate = base if base is not None else self.snapshots.latest(aggregate_id)
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
        table = sql.Identifier(datastore.schema, self.recorder.events_table_name)  # type: ignore[attr-defined]
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


def _moved(error: BaseException) -> UUID | None:
    """The aggregate a failed insert found moved on, when its error says."""
    return moved_aggregate(error) if isinstance(error, RecordConflictError) else None


def _versions(aggregates: Sequence[Aggregate]) -> dict[UUID, int]:
    return {a.id: a.version for a in aggregates}


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
