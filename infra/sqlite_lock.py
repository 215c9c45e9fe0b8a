"""One writer at a time per SQLite file, across threads and processes.

SQLite lets one transaction write at a time and makes the others wait in its
busy handler, which sleeps 1, 2, 5, 10, … ms between tries: at a few hundred
writes a second that sleeping, not the writing, sets the pace. So writers
queue here instead. Threads of a process queue on one lock (they would
otherwise also time out in the event store's connection pool while a
projection holds the file); processes queue on an `flock` of a file beside
the database, which the kernel hands to the next waiter as soon as it is
released. SQLite's own locks are POSIX record locks, which `flock` does not
touch, so its locking is unchanged underneath.
"""

from __future__ import annotations

import fcntl
import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@functools.lru_cache(maxsize=64)  # asked on every write; resolving is a few syscalls
def _lock_file(database: str) -> str | None:
    """The lock file of a database file; None for one held in memory."""
    if not database or ":memory:" in database or "mode=memory" in database:
        return None
    return os.path.realpath(database.removeprefix("file:").split("?", 1)[0]) + ".write-lock"


class SQLiteWriteLock:
    def __init__(self) -> None:
        # One for every database: a thread writes one at a time anyway, and
        # a single lock cannot be taken in two orders.
        self._threads = threading.RLock()
        self._depth: dict[str, int] = {}
        self._files: dict[str, int] = {}

    @contextmanager
    def held(self, database: str | Path) -> Iterator[None]:
        """Hold the write lock of `database` (a path or SQLite URI) for the block."""
        path = _lock_file(str(database))
        with self._threads:
            if path is None:
                yield
                return
            depth = self._depth.get(path, 0)
            if depth == 0:
                fcntl.flock(self._file(path), fcntl.LOCK_EX)
            self._depth[path] = depth + 1
            try:
                yield
            finally:
                self._depth[path] -= 1
                if self._depth[path] == 0:
                    fcntl.flock(self._files[path], fcntl.LOCK_UN)

    def _file(self, path: str) -> int:
        # Kept open: an flock lives with the open file, and opening the same
        # file twice in one process would make two locks that exclude each other.
        fd = self._files.get(path)
        if fd is None:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._files[path] = fd
        return fd


SQLITE_WRITE_LOCK = SQLiteWriteLock()
