"""Reading ahead keeps the order, hands over errors, and stops with its consumer."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from projections.readahead import read_ahead


def test_items_arrive_in_order() -> None:
    assert list(read_ahead(iter(range(100)), depth=3)) == list(range(100))


def test_an_error_reaches_the_consumer_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise LookupError("the log went away")

    seen: list[int] = []
    with pytest.raises(LookupError, match="went away"):
        for item in read_ahead(source()):
            seen.append(item)
    assert seen == [1, 2]


def test_a_consumer_that_stops_early_stops_the_producer() -> None:
    closed = threading.Event()
    produced: list[int] = []

    def source() -> Iterator[int]:
        try:
            for n in range(1_000_000):
                produced.append(n)
                yield n
        finally:
            closed.set()

    pages = read_ahead(source(), depth=2)
    assert next(pages) == 0
    pages.close()  # what a `for` loop left by `break` or an exception does
    assert closed.is_set()  # the source was closed, in the producer's thread
    assert len(produced) <= 4  # one taken, at most `depth` queued, one waiting
    assert not any(t.name == "read-ahead" and t.is_alive() for t in threading.enumerate())
