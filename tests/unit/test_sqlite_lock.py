"""The SQLite write lock: one writer per database file across processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from infra.sqlite_lock import SQLiteWriteLock

HOLDER = """
import sys
from infra.sqlite_lock import SQLiteWriteLock
lock = SQLiteWriteLock()
with lock.held(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_writer_in_another_process_waits_until_the_lock_is_released(tmp_path: Path) -> None:
    database = tmp_path / "strata.sqlite3"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "held"
        acquired = threading.Event()

        def write() -> None:
            with SQLiteWriteLock().held(database):
                acquired.set()

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        assert not acquired.wait(0.3)  # still held by the other process
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert acquired.wait(30)
        writer.join(30)
    finally:
        holder.kill()
        holder.wait()


def test_holds_nest_in_one_thread_and_name_the_file_either_way(tmp_path: Path) -> None:
    database = tmp_path / "strata.sqlite3"
    lock = SQLiteWriteLock()
    with lock.held(database), lock.held(str(database)), lock.held(f"file:{database}?mode=rw"):
        pass
    assert (tmp_path / "strata.sqlite3.write-lock").exists()


def test_a_database_in_memory_needs_no_file(tmp_path: Path) -> None:
    lock = SQLiteWriteLock()
    with lock.held(":memory:"), lock.held("file:x?mode=memory&cache=shared"):
        pass
    assert list(tmp_path.iterdir()) == []
