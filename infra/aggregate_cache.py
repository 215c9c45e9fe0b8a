"""Aggregates kept between commands, so a command need not load them again.

Most of what a command loads it only reads, and the same few aggregates are
read by command after command: every port created on a network loads that
network, its subnet and the project's default security group. Each load is a
round trip and a replay. Here the command bus's loads are served from copies
kept in this process.

A kept copy may be stale (another process, or another host, wrote the
aggregate since), and a command must never act on a stale read. So the bus
hands every aggregate a command read and left unchanged to the save, which
commits only if none of them has moved on past the version read (checked
under the log's lock); a command that fails, or changes nothing, asks the
store the same (`moved`). If one had, the command runs again, loading that
one afresh.

What is kept is what commands read and did not change, as the commit that
checked it found it: an aggregate that is written as often as it is read (a
subnet's address blocks, which two processes may allocate from) is loaded
every time, and never costs a command a retry for being stale. Copies are
pickled, so a handler that changes the aggregate it was given and then
fails leaves the kept copy as it was.

Besides, every state of an aggregate this process committed is a true
state it had (events are never changed), so it is where the next load of
that aggregate starts: only the events after it are read and replayed. An
address block gathers an event per port it holds, and the ports of a big
subnet load one each; from its snapshot, a load replayed fifty events on
average, from here the one or two the other process added. Such a state is
the committed object itself, handed to one load at a time, and no copy.
"""

from __future__ import annotations

import logging
import pickle
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import RecordConflictError
from eventsourcing.utils import get_topic

from infra.conflicts import moved_aggregate
from infra.eventstore import EventStore
from infra.personal_data import RULES

log = logging.getLogger(__name__)

A = TypeVar("A", bound=Aggregate)

# Bounds of what a process keeps (least recently used first out), and of the
# committed states it starts loads from.
KEPT_ENTRIES = 20_000
KEPT_BYTES = 64 * 1024 * 1024
BASE_ENTRIES = 5_000


class CachedAggregates:
    """The command bus's aggregate store: `EventStore` with kept copies."""

    def __init__(
        self,
        store: EventStore,
        entries: int = KEPT_ENTRIES,
        size: int = KEPT_BYTES,
        bases: int = BASE_ENTRIES,
    ) -> None:
        self.store = store
        self._kept = _KeptCopies(entries, size)
        self._bases = _Bases(bases)
        # Per kind of aggregate, whether it may be kept: decided once.
        self._keepable: dict[type[Aggregate], bool] = {}

    def get(self, cls: type[A], aggregate_id: UUID) -> A | None:
        kept = self._kept.get(aggregate_id)
        if kept is not None:
            aggregate = pickle.loads(kept[1])
            return aggregate if isinstance(aggregate, cls) else None
        return self.store.get(cls, aggregate_id, base=self._bases.take(aggregate_id))

    def save(
        self,
        aggregates: Iterable[Aggregate],
        meta: Mapping[str, Any],
        reads: Sequence[Aggregate] = (),
    ) -> list[int]:
        written = list(aggregates)
        try:
            ids = self.store.save(written, meta, reads)
        except RecordConflictError as error:
            # The aggregate that moved on, where the error names it; else any
            # written one may have been written on a stale copy.
            moved = moved_aggregate(error)
            for aggregate_id in [moved] if moved is not None else [a.id for a in written]:
                self._kept.pop(aggregate_id)
            raise
        for aggregate in written:
            self._kept.pop(aggregate.id)
            if self._may_keep(aggregate):
                self._bases.put(aggregate)  # as committed: where its next load starts
        if ids:  # the reads were checked: each is current
            for aggregate in reads:
                self._keep(aggregate)
        return ids

    def moved(self, reads: Sequence[Aggregate]) -> list[UUID]:
        """Which of `reads` have moved on; kept copies of them are dropped."""
        moved = self.store.moved(reads)
        for aggregate_id in moved:
            self._kept.pop(aggregate_id)
        return moved

    def _keep(self, aggregate: Aggregate) -> None:
        kept = self._kept.get(aggregate.id)
        if kept is not None and kept[0] == aggregate.version:
            return  # read from the kept copy itself
        if not self._may_keep(aggregate):
            return
        try:
            state = pickle.dumps(aggregate, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:  # a state pickle cannot carry
            log.info("not keeping %s aggregates: %s", get_topic(type(aggregate)), error)
            self._keepable[type(aggregate)] = False
            return
        self._kept.put(aggregate.id, aggregate.version, state)
        self._bases.put(aggregate)  # the command is done with it

    def _may_keep(self, aggregate: Aggregate) -> bool:
        cls = type(aggregate)
        keepable = self._keepable.get(cls)
        if keepable is None:
            # Not personal data: crypto-shredding must be able to destroy it.
            keepable = self._keepable[cls] = get_topic(cls) not in _PERSONAL
        return keepable


class _KeptCopies:
    """Pickled states and their versions, bounded in count and bytes: least
    recently used first out."""

    def __init__(self, entries: int, size: int) -> None:
        self._entries, self._size = entries, size
        self._held: OrderedDict[UUID, tuple[int, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, aggregate_id: UUID) -> tuple[int, bytes] | None:
        with self._lock:
            kept = self._held.get(aggregate_id)
            if kept is not None:
                self._held.move_to_end(aggregate_id)
            return kept

    def put(self, aggregate_id: UUID, version: int, state: bytes) -> None:
        with self._lock:
            self._pop(aggregate_id)
            self._held[aggregate_id] = (version, state)
            self._bytes += len(state)
            while self._held and (len(self._held) > self._entries or self._bytes > self._size):
                _, (_, oldest) = self._held.popitem(last=False)
                self._bytes -= len(oldest)

    def pop(self, aggregate_id: UUID) -> None:
        with self._lock:
            self._pop(aggregate_id)

    def _pop(self, aggregate_id: UUID) -> None:
        kept = self._held.pop(aggregate_id, None)
        if kept is not None:
            self._bytes -= len(kept[1])


class _Bases:
    """Committed aggregates no command holds any more, to start loads from:
    taken by one load at a time, which replays onto it."""

    def __init__(self, entries: int) -> None:
        self._entries = entries
        self._held: OrderedDict[UUID, Aggregate] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, aggregate_id: UUID) -> Aggregate | None:
        with self._lock:
            return self._held.pop(aggregate_id, None)

    def put(self, aggregate: Aggregate) -> None:
        with self._lock:
            self._held.pop(aggregate.id, None)
            self._held[aggregate.id] = aggregate
            while len(self._held) > self._entries:
                self._held.popitem(last=False)


# Aggregates whose events hold personal data: their events' topics, less
# the event's own name.
_PERSONAL = frozenset(topic.rsplit(".", 1)[0] for topic in RULES)
