"""Run an iterator one or two items ahead of its consumer, in a thread.

A replay reads and decodes a page of the log while the previous page is being
written. Python runs one thread at a time, but both databases' drivers let
go of the interpreter while the database works (SQLite while it steps through
a statement, psycopg while it waits for the server), and that is when the
reader gets to decode the next page.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")

_POLL = 0.1  # how often a blocked producer checks whether the consumer left


class _Done:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def read_ahead(source: Iterator[T], depth: int = 2) -> Generator[T, None, None]:
    """Yield what `source` yields, produced up to `depth` items early.

    An exception in `source` is raised to the consumer where the item would
    have been; a consumer that stops early stops the producer too.
    """
    items: queue.Queue[T | _Done] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: T | _Done) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not offer(item):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            offer(_Done(error))
        else:
            offer(_Done())
        finally:
            close = getattr(source, "close", None)
            if close is not None:  # a generator left early: release what it holds here
                close()

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if isinstance(item, _Done):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        thread.join()
