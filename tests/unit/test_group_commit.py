"""Group commit: queued saves share one transaction, failures stay with their owner."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping, Sequence

from eventsourcing.persistence import StoredEvent

from infra.group_commit import GroupCommitter


def stored(tag: str) -> StoredEvent:
    return StoredEvent(originator_id=uuid.uuid4(), originator_version=1, topic=tag, state=b"{}")


class Log:
    """An in-memory log that can hold its first insert until told to go on."""

    def __init__(self) -> None:
        self.rows: list[StoredEvent] = []
        self.transactions: list[int] = []
        self.reads: list[dict[uuid.UUID, int]] = []
        self.taken: set[uuid.UUID] = set()  # aggregates another writer got to first
        self.hold = threading.Event()
        self.entered = threading.Event()
        self.lock = threading.Lock()

    def insert(self, events: Sequence[StoredEvent], reads: Mapping[uuid.UUID, int]) -> list[int]:
        if not self.transactions:
            self.entered.set()
            self.hold.wait(timeout=10)
        with self.lock:
            if any(e.topic == "bad" for e in events):
                raise ValueError("bad event")
            for event in events:
                if event.originator_id in self.taken:
                    raise Moved(uuid.UUID(str(event.originator_id)))
            start = len(self.rows)
            self.rows.extend(events)
            self.transactions.append(len(events))
            self.reads.append(dict(reads))
            return list(range(start + 1, start + 1 + len(events)))


class Moved(Exception):
    """A version race lost on one aggregate, which the error names."""

    def __init__(self, aggregate_id: uuid.UUID) -> None:
        super().__init__(str(aggregate_id))
        self.aggregate_id = aggregate_id


def blame(error: BaseException) -> uuid.UUID | None:
    return error.aggregate_id if isinstance(error, Moved) else None


def wait_for_queue(committer: GroupCommitter, size: int) -> None:
    deadline = time.monotonic() + 10
    while len(committer._queue) < size and time.monotonic() < deadline:
        time.sleep(0.001)
    assert len(committer._queue) == size


def test_saves_that_queue_behind_a_writer_share_one_transaction() -> None:
    log = Log()
    committer = GroupCommitter(log.insert)
    results: dict[int, list[int]] = {}

    def save(n: int, count: int) -> None:
        results[n] = committer.insert([stored(f"s{n}") for _ in range(count)])

    first = threading.Thread(target=save, args=(0, 1))
    first.start()
    assert log.entered.wait(timeout=10)
    others = [threading.Thread(target=save, args=(n, n)) for n in range(1, 8)]
    for thread in others:
        thread.start()
    wait_for_queue(committer, 7)
    log.hold.set()
    for thread in [first, *others]:
        thread.join(timeout=10)

    assert log.transactions == [1, sum(range(1, 8))]
    for n, ids in results.items():
        assert len(ids) == max(n, 1)
        assert ids == list(range(ids[0], ids[0] + len(ids))), "one save's events stay together"
        assert {e.topic for e in (log.rows[i - 1] for i in ids)} == {f"s{n}"}


def test_a_failing_save_fails_alone_and_the_rest_of_its_batch_lands() -> None:
    log = Log()
    committer = GroupCommitter(log.insert)
    errors: dict[str, BaseException] = {}
    results: dict[str, list[int]] = {}

    def save(tag: str) -> None:
        try:
            results[tag] = committer.insert([stored(tag), stored(tag)])
        except ValueError as error:
            errors[tag] = error

    first = threading.Thread(target=save, args=("first",))
    first.start()
    assert log.entered.wait(timeout=10)
    tags = ["a", "bad", "c"]
    threads = [threading.Thread(target=save, args=(t,)) for t in tags]
    for thread in threads:
        thread.start()
    wait_for_queue(committer, 3)
    log.hold.set()
    for thread in [first, *threads]:
        thread.join(timeout=10)

    assert set(errors) == {"bad"}
    assert set(results) == {"first", "a", "c"}
    assert sorted(e.topic for e in log.rows) == ["a", "a", "c", "c", "first", "first"]
    assert committer.stats.fallbacks == 1


def test_a_lone_save_goes_straight_through() -> None:
    log = Log()
    log.hold.set()
    committer = GroupCommitter(log.insert)
    assert committer.insert([stored("x")]) == [1]
    assert committer.insert([stored("y"), stored("y")]) == [2, 3]
    assert log.transactions == [1, 2]


def test_batches_never_exceed_max_events_unless_one_save_does() -> None:
    log = Log()
    committer = GroupCommitter(log.insert, max_events=4)
    threads = [
        threading.Thread(target=committer.insert, args=([stored("z") for _ in range(n)],))
        for n in (1, 3, 3, 6)
    ]
    threads[0].start()
    assert log.entered.wait(timeout=10)
    for thread in threads[1:]:
        thread.start()
    wait_for_queue(committer, 3)
    log.hold.set()
    for thread in threads:
        thread.join(timeout=10)
    assert log.transactions[0] == 1
    assert all(n <= 4 for n in log.transactions[1:] if n != 6)
    assert sum(log.transactions) == 13


def test_a_batch_checks_what_each_of_its_saves_read_at_the_oldest_version() -> None:
    log = Log()
    committer = GroupCommitter(log.insert)
    shared, mine, yours = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    first = threading.Thread(target=committer.insert, args=([stored("a")], {mine: 1}))
    first.start()
    assert log.entered.wait(timeout=10)
    later = [
        threading.Thread(target=committer.insert, args=([stored("b")], {shared: 4, mine: 2})),
        threading.Thread(target=committer.insert, args=([stored("c")], {shared: 3, yours: 7})),
    ]
    for thread in later:
        thread.start()
    wait_for_queue(committer, 2)
    log.hold.set()
    for thread in [first, *later]:
        thread.join(timeout=10)
    # If the older read of `shared` is stale the batch fails, and each of
    # its saves is tried alone with its own reads.
    assert log.reads == [{mine: 1}, {shared: 3, mine: 2, yours: 7}]


def test_the_saves_a_failure_names_fail_and_the_rest_of_the_batch_goes_again_together() -> None:
    log = Log()
    taken = uuid.uuid4()
    log.taken.add(taken)
    committer = GroupCommitter(log.insert, blame=blame)
    errors: dict[str, BaseException] = {}
    results: dict[str, list[int]] = {}

    def save(tag: str) -> None:
        event = stored(tag)
        if tag in ("b", "d"):  # both write the aggregate someone else wrote first
            event = StoredEvent(originator_id=taken, originator_version=2, topic=tag, state=b"{}")
        try:
            results[tag] = committer.insert([event])
        except Moved as error:
            errors[tag] = error

    first = threading.Thread(target=save, args=("first",))
    first.start()
    assert log.entered.wait(timeout=10)
    threads = []
    for n, tag in enumerate(["a", "b", "c", "d"], start=1):  # queued in this order
        threads.append(threading.Thread(target=save, args=(tag,)))
        threads[-1].start()
        wait_for_queue(committer, n)
    log.hold.set()
    for thread in [first, *threads]:
        thread.join(timeout=10)

    assert set(errors) == {"b", "d"}
    assert set(results) == {"first", "a", "c"}
    # Neither a nor c was written alone: they landed in one transaction.
    assert log.transactions == [1, 2]
