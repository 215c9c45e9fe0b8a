"""Snapshots: a cache of aggregate states, so loading never replays forever.

Some aggregates gather events for as long as they live (a compute host's
claims, a subnet's address blocks). Loading one replays its whole stream, so
every command touching it gets slower with age. Every `every` events the
store saves the aggregate's state in `snapshots`; loading starts from the
newest snapshot and replays only what came after.

Snapshots are only a cache, never the truth: a snapshot is kept only if it
restores to exactly the state it was taken from (checked when taken, so a
field JSON cannot carry faithfully — a set, a tuple — just goes unsnapshotted);
one that no longer decodes is ignored; `strata replay` clears them all, which
is what to do after an upgrade that changes an aggregate's shape. Aggregates
holding personal data are never snapshotted: a snapshot would keep in clear
what crypto-shredding must be able to destroy.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import AggregateRecorder, Mapper, StoredEvent
from eventsourcing.utils import get_topic

from infra.sqlite_lock import SQLITE_WRITE_LOCK

log = logging.getLogger(__name__)

TABLE = "snapshots"
NEVER = frozenset({"domain.identity.users:User", "domain.claims:NameClaim"})
# What a process remembers of snapshots: most aggregates have none (a fact
# that costs an id), a few have one of some kilobytes.
KNOWN_ENTRIES = 100_000
KNOWN_BYTES = 64 * 1024 * 1024


class SnapshotStore:
    def __init__(self, datastore: Any, sqlite: bool, mapper: Mapper[UUID], every: int) -> None:
        self.sqlite = sqlite
        self.mapper = mapper
        self.every = every
        self.recorder = _recorder(datastore, sqlite)
        self.recorder.create_table()  # type: ignore[attr-defined]
        self._unfaithful: set[str] = set()
        self._known = _KnownSnapshots()

    def due(self, aggregate: Aggregate, events_saved: int) -> bool:
        """Whether this save carried the aggregate across a multiple of `every`."""
        if self.every <= 0 or events_saved == 0:
            return False
        topic = get_topic(type(aggregate))
        if topic in NEVER or topic in self._unfaithful:
            return False
        version = aggregate.version
        return version // self.every > (version - events_saved) // self.every

    def take(self, aggregate: Aggregate) -> None:
        snapshot = Snapshot.take(aggregate)
        try:
            stored = self.mapper.to_stored_event(snapshot)
            restored = self.mapper.to_domain_event(stored).mutate(None)  # type: ignore[attr-defined]
        except Exception as error:  # a state JSON cannot carry
            self._give_up(aggregate, str(error))
            return
        if vars(restored) != vars(aggregate) | {"_pending_events": []}:
            self._give_up(aggregate, "it does not restore to the same state")
            return
        if self.sqlite:
            with SQLITE_WRITE_LOCK.held(self.recorder.datastore.pool.db_name):  # type: ignore[attr-defined]
                self.recorder.insert_events([stored])
        else:
            self.recorder.insert_events([stored])
        self._known.remember(aggregate.id, stored)

    def latest(self, aggregate_id: UUID) -> Aggregate | None:
        known, stored = self._known.get(aggregate_id)
        if not known:
            rows = self.recorder.select_events(aggregate_id, desc=True, limit=1)
            stored = rows[0] if rows else None
            self._known.remember(aggregate_id, stored)
        if stored is None:
            return None
        try:
            aggregate: Aggregate = self.mapper.to_domain_event(stored).mutate(None)  # type: ignore[attr-defined]
        except Exception:  # written by another version of the code: replay instead
            log.warning("ignoring an undecodable snapshot of %s", aggregate_id)
            return None
        return aggregate

    def loaded(self, aggregate: Aggregate) -> None:
        """Learn from a loaded aggregate whether a newer snapshot may exist.

        What `latest` remembers is always a true state of the aggregate (a
        snapshot never changes), so using it is correct however old it is;
        it is only slower once a newer one exists, which any process takes
        when a save crosses a multiple of `every`. So the next load asks the
        database again once the aggregate has crossed one since.
        """
        topic = get_topic(type(aggregate))
        if self.every <= 0 or topic in NEVER or topic in self._unfaithful:
            return
        known, stored = self._known.get(aggregate.id)
        base = stored.originator_version if stored is not None else 0
        if known and aggregate.version // self.every > base // self.every:
            self._known.forget(aggregate.id)

    def clear(self) -> None:
        from psycopg import sql

        statement = sql.SQL("DELETE FROM {}").format(sql.Identifier(TABLE))
        text = statement.as_string(None)
        datastore: Any = self.recorder.datastore  # type: ignore[attr-defined]
        if self.sqlite:
            with (
                SQLITE_WRITE_LOCK.held(datastore.pool.db_name),
                datastore.transaction(commit=True) as cursor,
            ):
                cursor.execute(text)
        else:
            with datastore.transaction(commit=True) as cursor:
                cursor.execute(statement)
        self._known.clear()

    def _give_up(self, aggregate: Aggregate, why: str) -> None:
        topic = get_topic(type(aggregate))
        self._unfaithful.add(topic)
        log.info("not snapshotting %s: %s", topic, why)


class _KnownSnapshots:
    """The newest snapshot this process knows per aggregate (None: none),
    so that most loads skip the snapshot query; bounded, least recently
    used first out."""

    def __init__(self, entries: int = KNOWN_ENTRIES, size: int = KNOWN_BYTES) -> None:
        self._entries, self._size = entries, size
        self._held: OrderedDict[UUID, StoredEvent | None] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, aggregate_id: UUID) -> tuple[bool, StoredEvent | None]:
        with self._lock:
            if aggregate_id not in self._held:
                return False, None
            self._held.move_to_end(aggregate_id)
            return True, self._held[aggregate_id]

    def remember(self, aggregate_id: UUID, stored: StoredEvent | None) -> None:
        with self._lock:
            self._drop(aggregate_id)
            self._held[aggregate_id] = stored
            self._bytes += len(stored.state) if stored is not None else 0
            while self._held and (len(self._held) > self._entries or self._bytes > self._size):
                self._drop(next(iter(self._held)))

    def forget(self, aggregate_id: UUID) -> None:
        with self._lock:
            self._drop(aggregate_id)

    def clear(self) -> None:
        with self._lock:
            self._held.clear()
            self._bytes = 0

    def _drop(self, aggregate_id: UUID) -> None:
        stored = self._held.pop(aggregate_id, None)
        if stored is not None:
            self._bytes -= len(stored.state)


def _recorder(datastore: Any, sqlite: bool) -> AggregateRecorder:
    if sqlite:
        from eventsourcing.sqlite import SQLiteAggregateRecorder

        return SQLiteAggregateRecorder(datastore, events_table_name=TABLE)
    from eventsourcing.postgres import PostgresAggregateRecorder

    return PostgresAggregateRecorder(datastore, events_table_name=TABLE)
