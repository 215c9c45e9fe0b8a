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

Besides, every state of an aggregate this process has loaded or committed
is a true state it had (events are never changed), so it is where the next
load of that aggregate starts: only the events after it are read and
replayed. An address block gathers an event per port it holds, and the
ports of a big subnet load one each; from its snapshot, a load replayed
fifty events on average, from here the one or two the other process added.
"""

from __future__ import annotations

import logging
import pickle
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping
from typing import Any, Generic, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import RecordConflictError
from eventsourcing.utils import get_topic

from infra.conflicts import moved_aggregate
from infra.eventstore import EventStore
from infra.personal_data import RULES

log = logging.getLogger(__name__)

A = TypeVar("A", bound=Aggregate)

# Bounds of what a process keeps, of the states it starts loads from, and
# of what it loaded and may keep once a commit has checked it.
KEPT_ENTRIES = 20_000
KEPT_BYTES = 64 * 1024 * 1024
BASE_ENTRIES = 20_000
BASE_BYTES = 64 * 1024 * 1024
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
        self._kept = _Pickles[UUID](entries, size)
        self._bases = _Pickles[UUID](BASE_ENTRIES, BASE_BYTES)
        # Loaded lately, by (id, version): kept when a commit checks the read.
        self._loaded = _Pickles[tuple[UUID, int]](loaded, size)
        self._never: set[type[Aggregate]] = set()
        self.hits = 0
        self.misses = 0

    def get(self, cls: type[A], aggregate_id: UUID) -> A | None:
        state = self._kept.get(aggregate_id)
        if state is not None:
            self.hits += 1
            aggregate = pickle.loads(state)
            return aggregate if isinstance(aggregate, cls) else None
        self.misses += 1
        base = self._bases.get(aggregate_id)
        loaded = self.store.get(
            cls, aggregate_id, base=pickle.loads(base) if base is not None else None
        )
        if loaded is not None:
            state = self._pickled(loaded)
            if state is not None:
                self._bases.put(aggregate_id, state)
                self._loaded.put((aggregate_id, loaded.version), state)
        return loaded

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
                self._kept.pop(moved)
            raise
        for aggregate in written:
            self._kept.pop(aggregate.id)
            state = self._pickled(aggregate)  # as committed: where its next load starts
            if state is not None:
                self._bases.put(aggregate.id, state)
        if ids:  # the reads were checked
            for read in (reads or {}).items():
                state = self._loaded.pop(read)
                if state is not None:
                    self._kept.put(read[0], state)
        return ids

    def moved(self, reads: Mapping[UUID, int]) -> list[UUID]:
        """Which of `reads` have moved on; kept copies of them are dropped."""
        moved = self.store.moved(reads)
        for aggregate_id in moved:
            self._kept.pop(aggregate_id)
        return moved

    def _pickled(self, aggregate: Aggregate) -> bytes | None:
        """The aggregate's state, if aggregates of its kind may be kept."""
        cls = type(aggregate)
        if cls in self._never:
            return None
        if get_topic(cls) in _PERSONAL:
            self._never.add(cls)  # crypto-shredding must be able to destroy it
            return None
        try:
            return pickle.dumps(aggregate, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:  # a state pickle cannot carry
            log.info("not keeping %s aggregates: %s", get_topic(cls), error)
            self._never.add(cls)
            return None


K = TypeVar("K", bound=Hashable)


class _Pickles(Generic[K]):
    """Pickled states, bounded in count and bytes: least recently used out."""

    def __init__(self, entries: int, size: int) -> None:
        self._entries, self._size = entries, size
        self._held: OrderedDict[K, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> bytes | None:
        with self._lock:
            state = self._held.get(key)
            if state is not None:
                self._held.move_to_end(key)
            return state

    def put(self, key: K, state: bytes) -> None:
        with self._lock:
            self._pop(key)
            self._held[key] = state
            self._bytes += len(state)
            while self._held and (len(self._held) > self._entries or self._bytes > self._size):
                _, oldest = self._held.popitem(last=False)
                self._bytes -= len(oldest)

    def pop(self, key: K) -> bytes | None:
        with self._lock:
            return self._pop(key)

    def _pop(self, key: K) -> bytes | None:
        state = self._held.pop(key, None)
        if state is not None:
            self._bytes -= len(state)
        return state


# Aggregates whose events hold personal data: their events' topics, less
# the event's own name.
_PERSONAL = frozenset(topic.rsplit(".", 1)[0] for topic in RULES)
