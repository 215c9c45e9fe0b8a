"""On PostgreSQL a write brings the read models up to date in the same
transaction that inserts its events, where it can: each projection that
stood at the head of the log and that no catch-up holds. When the handlers
only write, their statements are made beforehand and go out with the insert
as one message; when one reads, they are made under the log's lock. Anything
else is left to the catch-up, and nothing that goes wrong there fails the
write.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError

from infra.database import Cursor, Database, open_database
from infra.eventstore import EventStore, open_recorder
from infra.settings import Settings
from projections.audit.projection import AuditProjection
from projections.base import Projection, Table
from projections.identity.projection import IdentityProjection
from projections.runner import ProjectionRunner
from projections.with_insert import WrittenWithInsert
from tests.integration.test_write_path_round_trips import META, Once, Widget, _write


class Unique(Projection):
    """Writes the same key for every event: the second write of it fails in
    the database, at the commit of a pipelined transaction."""

    name = "unique"
    tables = (Table("unique_seen", (("k", "BIGINT"),), ("k",)),)

    def topics(self) -> list[str]:
        return []

    def apply_at(self, cursor: Cursor, notification_id: int, event: Any) -> None:
        cursor.execute("INSERT INTO unique_seen (k) VALUES (1)")


class Broken(Projection):
    """Raises in Python for every event."""

    name = "broken"
    tables = (Table("broken_seen", (("k", "BIGINT"),), ("k",)),)

    def topics(self) -> list[str]:
        return []

    def apply_at(self, cursor: Cursor, notification_id: int, event: Any) -> None:
        raise RuntimeError("a bug in a projection")


class Reading(Projection):
    """Reads its own table before writing, as an update handler does."""

    name = "reading"
    tables = (Table("reading_seen", (("k", "TEXT"), ("n", "BIGINT")), ("k",)),)

    def topics(self) -> list[str]:
        return []

    def apply(self, cursor: Cursor, event: Any) -> None:
        cursor.execute("SELECT n FROM reading_seen WHERE k = %s", ["count"])
        row = cursor.fetchone()
        self.upsert(cursor, "reading_seen", {"k": "count", "n": (row["n"] if row else 0) + 1})


@pytest.fixture
def settings(tmp_path: Path, pg_dsn: str) -> Settings:
    return Settings(data_dir=tmp_path, database_url=pg_dsn)


def _parts(settings: Settings, *extra: Projection) -> tuple[EventStore, Database, ProjectionRunner]:
    store = EventStore(open_recorder(settings))
    db = open_database(settings.database_url, settings.sqlite_path, True)
    runner = ProjectionRunner(db, store, [IdentityProjection(), AuditProjection(), Once(), *extra])
    runner.setup()
    runner.catch_up_all()
    store.with_insert = WrittenWithInsert(runner)
    return store, db, runner


@pytest.fixture
def parts(settings: Settings) -> Iterator[tuple[EventStore, Database, ProjectionRunner]]:
    store, db, runner = _parts(settings)
    yield store, db, runner
    db.close()


def _positions(runner: ProjectionRunner) -> dict[str, int]:
    return {name: runner.position(name) for name in runner.projections}


def test_a_write_is_projected_by_its_commit(parts: Any) -> None:
    store, _, runner = parts
    ids = store.save([Widget("p1")], META)
    # No catch-up ran: the positions moved with the insert.
    assert set(_positions(runner).values()) == {max(ids)}
    assert [r["notification_id"] for r in runner.rows("once_seen")] == ids
    assert runner.changed_position("once") == max(ids)
    assert runner.changed_position("identity") == 0  # none of its events


def test_writes_made_beforehand_go_out_with_the_insert(parts: Any) -> None:
    store, _, runner = parts
    awkward = 'it\'s 100% \\ "odd" ünïcode; -- DROP'
    ids = store.save([Widget(awkward)], META)
    assert store.insert_ways == {"one message": 1}
    (row,) = runner.rows("audit_events")
    assert row["notification_id"] == ids[0] and row["project_id"] == awkward
    assert runner.position("audit") == max(ids)


def test_a_handler_that_reads_has_its_writes_made_under_the_lock(settings: Settings) -> None:
    store, db, runner = _parts(settings, Reading())
    try:
        for _ in range(3):
            ids = store.save([Widget("p")], META)
            assert set(_positions(runner).values()) == {max(ids)}
        assert store.insert_ways == {"two trips": 3}
        assert runner.rows("reading_seen") == [{"k": "count", "n": 3}]
    finally:
        db.close()


def test_a_lost_version_race_is_still_the_callers(settings: Settings, parts: Any) -> None:
    store, _, runner = parts
    widget = Widget("p")
    store.save([widget], META)
    theirs = EventStore(open_recorder(settings)).get(Widget, widget.id)
    assert theirs is not None
    widget.touch()
    theirs.touch()
    ids = store.save([widget], META)
    with pytest.raises(IntegrityError):
        store.save([theirs], META)
    assert store.max_notification_id() == max(ids)
    assert set(_positions(runner).values()) == {max(ids)}


def test_rows_written_with_the_insert_equal_rebuilt_ones(parts: Any) -> None:
    store, _, runner = parts
    _write(store, runner)
    live = {t.name: runner.rows(t.name) for t in AuditProjection.tables}
    runner.rebuild("audit")
    for table, rows in live.items():
        assert runner.rows(table) == rows, table
    seen = runner.rows("once_seen")
    assert [r["notification_id"] for r in seen] == list(range(1, store.max_notification_id() + 1))


def test_a_projection_behind_the_head_is_left_to_the_catch_up(
    settings: Settings, parts: Any
) -> None:
    store, _, runner = parts
    first = EventStore(open_recorder(settings)).save(
        [Widget("p1")], META
    )  # a writer that does not project
    ids = store.save([Widget("p2")], META)
    assert set(_positions(runner).values()) == {0}  # applying it would skip the other
    runner.wait_for(max(ids))
    seen = [r["notification_id"] for r in runner.rows("once_seen")]
    assert seen == [*first, *ids]


def test_a_projection_a_catch_up_holds_is_skipped_not_waited_for(
    settings: Settings, parts: Any
) -> None:
    store, _, runner = parts
    saved: list[int] = []
    with psycopg.connect(settings.database_url) as holder:
        holder.execute("SELECT * FROM projection_positions WHERE name = 'once' FOR UPDATE")
        writer = threading.Thread(target=lambda: saved.extend(store.save([Widget("p")], META)))
        writer.start()
        writer.join(20)
        blocked = writer.is_alive()
        holder.rollback()
    writer.join()
    assert not blocked
    positions = _positions(runner)
    assert positions.pop("once") == 0
    assert set(positions.values()) == {max(saved)}
    runner.wait_for(max(saved))
    assert [r["notification_id"] for r in runner.rows("once_seen")] == saved


@pytest.mark.parametrize("projection", [Unique, Broken])
def test_a_failing_projection_does_not_fail_the_write(
    settings: Settings, projection: type[Projection]
) -> None:
    store, db, runner = _parts(settings, projection())
    try:
        first = store.save([Widget("p1")], META)
        if projection is Unique:  # its first row goes in; the second fails
            assert runner.position("unique") == max(first)
        else:
            assert runner.position("broken") == 0
        ids = store.save([Widget("p2")], META)  # the write goes through regardless
        assert store.max_notification_id() == max(ids)
        with pytest.raises((psycopg.Error, RuntimeError)):  # the catch-up meets the fault
            runner.catch_up_all()
    finally:
        db.close()
