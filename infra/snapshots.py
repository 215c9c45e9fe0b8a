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
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import AggregateRecorder, Mapper
from eventsourcing.utils import get_topic

from infra.database import SQLITE_WRITE_LOCK

log = logging.getLogger(__name__)

TABLE = "snapshots"
NEVER = frozenset({"domain.identity.users:User", "domain.claims:NameClaim"})


class SnapshotStore:
    def __init__(self, datastore: Any, sqlite: bool, mapper: Mapper[UUID], every: int) -> None:
        self.sqlite = sqlite
        self.mapper = mapper
        self.every = every
        self.recorder = _recorder(datastore, sqlite)
        self.recorder.create_table()  # type: ignore[attr-defined]
        self._unfaithful: set[str] = set()

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
            with SQLITE_WRITE_LOCK:
                self.recorder.insert_events([stored])
        else:
            self.recorder.insert_events([stored])

    def latest(self, aggregate_id: UUID) -> Aggregate | None:
        rows = self.recorder.select_events(aggregate_id, desc=True, limit=1)
        if not rows:
            return None
        try:
            aggregate: Aggregate = self.mapper.to_domain_event(rows[0]).mutate(None)  # type: ignore[attr-defined]
        except Exception:  # written by another version of the code: replay instead
            log.warning("ignoring an undecodable snapshot of %s", aggregate_id)
            return None
        return aggregate

    def clear(self) -> None:
        from psycopg import sql

        statement = sql.SQL("DELETE FROM {}").format(sql.Identifier(TABLE))
        text = statement.as_string(None)
        datastore: Any = self.recorder.datastore  # type: ignore[attr-defined]
        if self.sqlite:
            with SQLITE_WRITE_LOCK, datastore.transaction(commit=True) as cursor:
                cursor.execute(text)
        else:
            with datastore.transaction(commit=True) as cursor:
                cursor.execute(statement)

    def _give_up(self, aggregate: Aggregate, why: str) -> None:
        topic = get_topic(type(aggregate))
        self._unfaithful.add(topic)
        log.info("not snapshotting %s: %s", topic, why)


def _recorder(datastore: Any, sqlite: bool) -> AggregateRecorder:
    if sqlite:
        from eventsourcing.sqlite import SQLiteAggregateRecorder

        return SQLiteAggregateRecorder(datastore, events_table_name=TABLE)
    from eventsourcing.postgres import PostgresAggregateRecorder

    return PostgresAggregateRecorder(datastore, events_table_name=TABLE)
