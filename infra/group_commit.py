"""Group commit: concurrent saves share one transaction on the one event log.

The PostgreSQL recorder takes an exclusive table lock per insert so that
notification ids commit in order (tailing readers rely on it); SQLite allows
one writer at a time anyway. Either way the log has one writer at a time, and
its throughput is transactions per second, not events per second. So while
one transaction is being written, the saves that arrive queue up, and the
next writer takes all of them into a single transaction. Nobody waits on a
timer: a lone save goes straight through, and batches grow only with load.

A batch is all-or-nothing in the database, but not for its callers: when the
combined insert fails (one caller lost a version race, say), the saves it
names (`blame`: the aggregate the error says had moved on) fail, and the
rest of the batch is written again without them; when it names none, each
save is tried again on its own. Either way only the saves that really
conflict see the error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from eventsourcing.persistence import StoredEvent

# The events, and the versions of what the saves read (which must not have
# moved on when the events commit).
Insert = Callable[[Sequence[StoredEvent], Mapping[UUID, int]], Sequence[int] | None]
# The aggregate a failed insert's error names as having moved on, if any.
Blame = Callable[[BaseException], UUID | None]


@dataclass
class _Save:
    events: Sequence[StoredEvent]
    reads: Mapping[UUID, int] = field(default_factory=dict)
    done: bool = False
    ids: list[int] = field(default_factory=list)
    error: BaseException | None = None

    def outcome(self) -> list[int]:
        if self.error is not None:
            raise self.error
        return self.ids


@dataclass
class GroupStats:
    transactions: int = 0
    saves: int = 0
    fallbacks: int = 0


class GroupCommitter:
    def __init__(self, insert: Insert, max_events: int = 1000, blame: Blame | None = None) -> None:
        self._insert = insert
        self._blame = blame
        self.max_events = max_events
        self._cond = threading.Condition()
        self._queue: list[_Save] = []
        self._writing = False
        self.stats = GroupStats()

    def insert(
        self, events: Sequence[StoredEvent], reads: Mapping[UUID, int] | None = None
    ) -> list[int]:
        save = _Save(events, reads or {})
        with self._cond:
            self._queue.append(save)
            while self._writing and not save.done:
                self._cond.wait()
            if save.done:
                return save.outcome()
            self._writing = True
        try:
            while not save.done:
                with self._cond:
                    batch = self._take()
                self._write(batch)
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()
        return save.outcome()

    def _take(self) -> list[_Save]:
        """The oldest queued saves, up to max_events (at least one)."""
        taken: list[_Save] = []
        count = 0
        while self._queue and (not taken or count + len(self._queue[0].events) <= self.max_events):
            item = self._queue.pop(0)
            taken.append(item)
            count += len(item.events)
        return taken

    def _write(self, batch: list[_Save]) -> None:
        self.stats.transactions += 1
        self.stats.saves += len(batch)
        try:
            ids = list(self._insert([e for s in batch for e in s.events], _reads(batch)) or [])
        except Exception as error:
            if len(batch) == 1:
                self._finish(batch[0], [], error)
                return
            self.stats.fallbacks += 1
            failed = self._blamed(batch, error)
            if not failed:
                for save in batch:
                    self._write_alone(save)
                return
            for save in failed:
                self._finish(save, [], error)
            rest = [s for s in batch if s not in failed]
            if rest:
                self._write(rest)
            return
        start = 0
        for save in batch:
            self._finish(save, ids[start : start + len(save.events)], None)
            start += len(save.events)

    def _blamed(self, batch: list[_Save], error: BaseException) -> list[_Save]:
        """The saves of `batch` that the error's aggregate concerns. When two
        or more wrote it, the first may be the one that got there first in
        the database: it stays in the batch (and fails on its own next time
        if it was not)."""
        moved = self._blame(error) if self._blame is not None else None
        if moved is None:
            return []
        involved = [
            s for s in batch if moved in s.reads or any(e.originator_id == moved for e in s.events)
        ]
        return involved[1:] if len(involved) > 1 else involved

    def _write_alone(self, save: _Save) -> None:
        self.stats.transactions += 1
        try:
            ids = list(self._insert(save.events, save.reads) or [])
        except Exception as error:
            self._finish(save, [], error)
        else:
            self._finish(save, ids, None)

    def _finish(self, save: _Save, ids: list[int], error: BaseException | None) -> None:
        with self._cond:
            save.ids, save.error, save.done = ids, error, True
            self._cond.notify_all()


def _reads(batch: list[_Save]) -> dict[UUID, int]:
    """What the batch read: where two saves read one aggregate at different
    versions, the older (if it is stale the batch fails, and each save is
    tried alone)."""
    reads: dict[UUID, int] = {}
    for save in batch:
        for aggregate_id, version in save.reads.items():
            reads[aggregate_id] = min(version, reads.get(aggregate_id, version))
    return reads
