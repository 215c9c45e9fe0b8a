"""Rebuilding a projection from zero: the whole log replayed into fresh
tables, which then take the live ones' place.

The replay is the bulk of it, and is made fast for its one job: pages of
events decoded ahead while the last one is written, handlers called
directly, the garbage collector held back, and on SQLite a page cache that
holds the tables being built. Only the switch (the events since, the swap,
the indexes and the position) runs under the projection's position lock.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from psycopg import sql

from infra.database import Database
from projections.base import Projection
from projections.batching import BatchingCursor
from projections.readahead import read_ahead
from projections.statements import UpsertShape

if TYPE_CHECKING:
    from projections.runner import ProjectionRunner

REBUILD_SUFFIX = "__rebuild"
REPLAY_CACHE_KIB = 64 * 1024
REPLAY_GC_THRESHOLD = 100_000


@dataclass
class RebuildReport:
    projection: str
    events: int
    position: int
    seconds: float


def rebuild(runner: ProjectionRunner, name: str, switch: bool = True) -> RebuildReport:
    """Replay the whole log into fresh tables, then swap them in."""
    started = time.perf_counter()
    live = runner.projections[name]
    fresh = type(live)({t.name: t.name + REBUILD_SUFFIX for t in live.tables})
    with runner.db.transaction() as cur:
        for table in live.tables:
            cur.execute(
                sql.SQL("DROP TABLE IF EXISTS {}").format(
                    sql.Identifier(table.name + REBUILD_SUFFIX)
                )
            )
        runner.create_tables(cur, fresh, with_indexes=False)
    position, count = 0, 0
    topics = fresh.topics()
    with _replay_cache(runner.db) as checkpoint_again:
        while True:  # until it catches a head that stands still
            head = runner.store.max_notification_id()
            if position >= head:
                break
            count += _replay(runner, fresh, position, head, topics)
            position = head
        if switch:
            # After the indexes are built with the rebuild's page cache
            # (SQLite then sorts their keys in memory, not through
            # temporary files), the switch's commit checkpoints the WAL.
            checkpoint_again()
            with runner.db.transaction() as cur:
                runner.lock_position(cur, name)
                head = runner.store.max_notification_id()
                batch = BatchingCursor(cur)
                for page in runner.store.decoded_pages(position, head, topics, runner.replay_page):
                    for _, event in page:
                        fresh.apply(batch, event)
                    count += len(page)
                batch.flush()
                position = max(position, head)
                for table in live.tables:
                    cur.execute(
                        sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table.name))
                    )
                    cur.execute(
                        sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                            sql.Identifier(table.name + REBUILD_SUFFIX),
                            sql.Identifier(table.name),
                        )
                    )
                    for statement in table.create_indexes(table.name):
                        cur.execute(statement)
                runner.set_position(cur, name, position)
            runner.advance({name: position}, {})
    return RebuildReport(name, count, position, time.perf_counter() - started)


def _replay(
    runner: ProjectionRunner, fresh: Projection, after: int, head: int, topics: list[str]
) -> int:
    """Apply the log after `after` up to `head` to a rebuild's tables, one
    transaction per page, the next page read and decoded meanwhile."""
    count = 0
    pages = runner.store.decoded_pages(after, head, topics, runner.replay_page)
    apply = fresh.apply  # bound once: this loop runs per event
    # The handler found here rather than through `apply`, one Python
    # call fewer per event, when the projection keeps the stock `apply`.
    handlers = fresh._handlers if type(fresh).apply is Projection.apply else None
    # Fresh tables: upserts there mostly meet no existing key.
    conflicted: set[UpsertShape] = set()
    with _fewer_collections():
        for page in read_ahead(pages):
            with runner.db.transaction() as cur:
                if cur.dialect == "postgres":
                    # Nothing reads a rebuild's tables before the switch,
                    # whose transaction does wait for the disk: a crash
                    # before it starts the rebuild over anyway.
                    cur.execute(sql.SQL("SET LOCAL synchronous_commit TO OFF"))
                batch = BatchingCursor(cur, conflicted)
                if handlers is None:
                    for _, event in page:
                        apply(batch, event)
                else:
                    for _, event in page:
                        handler = handlers.get(type(event))
                        if handler is not None:
                            handler(fresh, batch, event)
                batch.flush()
            count += len(page)
    return count


@contextmanager
def _replay_cache(db: Database) -> Iterator[Callable[[], None]]:
    """On SQLite, settings for writing a rebuild's tables, page after page.

    A page cache that holds them: rows arrive in log order, keyed by
    random UUIDs, so each insert lands on an arbitrary page of the
    primary-key index, and with the default 2 MiB cache most of those
    pages have been evicted by the time they are needed again. And one
    checkpoint at the end instead of one per 1,000 pages of WAL: an index
    page that every commit changes is then copied into the database once,
    not once per checkpoint. Yields what brings back the connection's own
    checkpoints, so that its next commit (the switch's) does that one
    checkpoint; the cache size comes back when the block ends.
    """
    if db.dialect != "sqlite":
        yield lambda: None
        return
    cache_size = _pragma(db, "cache_size", -REPLAY_CACHE_KIB)
    autocheckpoint = _pragma(db, "wal_autocheckpoint", 0)
    restored = False

    def checkpoint_again() -> None:
        nonlocal restored
        if not restored:
            _pragma(db, "wal_autocheckpoint", autocheckpoint)
            restored = True

    try:
        yield checkpoint_again
    finally:
        checkpoint_again()
        _pragma(db, "cache_size", cache_size)


def _pragma(db: Database, name: str, value: int) -> int:
    """Set a SQLite setting of this thread's connection; returns its old value."""
    with db.read() as cur:
        cur.execute(sql.SQL("PRAGMA {}").format(sql.Identifier(name)))
        row = cur.fetchone()
        cur.execute(sql.SQL("PRAGMA {} = {}").format(sql.Identifier(name), sql.Literal(value)))
    return int(next(iter(row.values()))) if row else 0


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Let the garbage collector run less often while a rebuild decodes.

    A page of decoded events is thousands of new dicts, ids and times, each
    allocation counting towards the next collection, and each collection
    walks every object still alive (the page, the process). Those objects
    hold no cycles and are freed by reference counting; collecting them
    cost a fifth of decoding. The thresholds are the process's, so they
    come back as they were.
    """
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], REPLAY_GC_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
