"""Aggregates kept between commands, so a command need not load them again.

Most of what a command loads it only reads, and the same few aggregates are
read by command after command: every port created on a network loads that
network, its subnet and the project's default security group. Each load is a
round trip and a replay. Here the command bus's loads are served from copies
kept in this process.

A kept copy may be stale (another process, or another host, wrote the
aggregate since), and a command must never commit on a stale read. So the
bus hands the version of every aggregate a command read and left unchanged
to the save, and the save commits only if none of them moved on
(`EventStore.save`'s `reads`, checked under the log's lock). If one had, the
command runs again, loading that one afresh.

What is kept is what commands read and did not change, as the commit that
checked it found it: an aggregate that is written as often as it is read (a
subnet's address blocks, which two processes may allocate from) is loaded
every time, and never costs a command a retry for being stale. Copies are
pickled, so a handler that changes the aggregate it was given and then
fails leaves the kept copy as it was.
"""

from __future__ import annotations

import logging
import pickle
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import RecordConflictError
from eventsourcing.utils import get_topic

from infra.eventstore import EventStore
from infra.personal_data import RULES
from infra.postgres_log_insert import moved_aggregate

log = logging.getLogger(__name__)

A = TypeVar("A", bound=Aggregate)

# Bounds of what a process keeps (least recently used first out), and of
# what it loaded and may keep once a commit has checked it.
KEPT_ENTRIES = 20_000
KEPT_BYTES = 64 * 1024 * 1024
LOADED_ENTRIES = 1_000


class CachedAggregates:
    """The command bus's aggregate store: `EventStore` with kept copies."""

    def __init__(
        self,
        store: EventStore,
        entries: int = KEPT_ENTRIES,
        size: int = KEPT_BYTES,
        loaded: int = LOADED_ENTRIES,
    ) -> None:
        self.store = store
        self._entries, self._size, self._loaded_entries = entries, size, loaded
        self._kept: OrderedDict[UUID, bytes] = OrderedDict()
        self._bytes = 0
        # Loaded lately, by (id, version): kept when a commit checks the read.
        self._loaded: OrderedDict[tuple[UUID, int], bytes] = OrderedDict()
        self._never: set[type[Aggregate]] = set()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, cls: type[A], aggregate_id: UUID) -> A | None:
        with self._lock:
            state = self._kept.get(aggregate_id)
            if state is not None:
                self._kept.move_to_end(aggregate_id)
        if state is None:
            self.misses += 1
            loaded = self.store.get(cls, aggregate_id)
            if loaded is not None:
                self._remember(loaded)
            return loaded
        self.hits += 1
        aggregate = pickle.loads(state)
        return aggregate if isinstance(aggregate, cls) else None

    def save(
        self,
        aggregates: Iterable[Aggregate],
        meta: Mapping[str, Any],
        reads: Mapping[UUID, int] | None = None,
    ) -> list[int]:
        written = list(aggregates)
        try:
            ids = self.store.save(written, meta, reads)
        except RecordConflictError as error:
            moved = moved_aggregate(error)
            if moved is not None:
                with self._lock:
                    self._drop(moved)
            raise
        with self._lock:
            for aggregate in written:
                self._drop(aggregate.id)
            if ids:  # the reads were checked
                for read in (reads or {}).items():
                    state = self._loaded.pop(read, None)
                    if state is not None:
                        self._keep(read[0], state)
        return ids

    def _remember(self, aggregate: Aggregate) -> None:
        """Pickle what was loaded, to be kept if a commit finds it current."""
        cls = type(aggregate)
        if cls in self._never:
            return
        if get_topic(cls) in _PERSONAL:
            self._never.add(cls)  # crypto-shredding must be able to destroy it
            return
        try:
            state = pickle.dumps(aggregate, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:  # a state pickle cannot carry
            log.info("not keeping %s aggregates: %s", get_topic(cls), error)
            self._never.add(cls)
            return
        with self._lock:
            self._loaded[(aggregate.id, aggregate.version)] = state
            while len(self._loaded) > self._loaded_entries:
                self._loaded.popitem(last=False)

    def _keep(self, aggregate_id: UUID, state: bytes) -> None:
        self._drop(aggregate_id)
        self._kept[aggregate_id] = state
        self._bytes += len(state)
        while self._kept and (len(self._kept) > self._entries or self._bytes > self._size):
            _, oldest = self._kept.popitem(last=False)
            self._bytes -= len(oldest)

    def _drop(self, aggregate_id: UUID) -> None:
        state = self._kept.pop(aggregate_id, None)
        if state is not None:
            self._bytes -= len(state)


# Aggregates whose events hold personal data: their events' topics, less
# the event's own name.
_PERSONAL = frozenset(topic.rsplit(".", 1)[0] for topic in RULES)
