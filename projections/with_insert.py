"""Read models written in the transaction that inserts a write's events
(PostgreSQL): what `EventStore.with_insert` calls.

The writer's read-your-writes then costs no transaction of its own, and its
events are applied as they are in memory instead of read back from the log.
The insert holds the log's exclusive lock, so a projection found at the head
then is exactly at the head. A write goes one of two ways here (and, when
both fail, its events go in alone and the catch-up projects them):

- prepared: handlers that only write run before the lock is taken, and their
  statements go out with the insert as one message (`projections.prepared`);
- under the lock: when a handler reads, the positions are taken ahead of the
  insert and the handlers run between the insert and COMMIT.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import Notification
from psycopg import sql

from infra.database import Cursor, Params
from projections.batching import BatchingCursor
from projections.prepared import IdLookups, LogId, NeedsRead, RecordingCursor
from projections.runner import POSITIONS, ProjectionRunner, applier


class WrittenWithInsert:
    """A runner's projections, brought up to date by each insert."""

    def __init__(self, runner: ProjectionRunner) -> None:
        self.runner = runner
        self.names = sorted(runner.projections)
        # Statements as text, made once per log table: composing one costs
        # more than running it.
        self._log_table: sql.Composable | None = None
        self._positions = ""
        self._check = ""
        self._move = ""
        self._lookups: IdLookups | None = None

    def prepare_insert(
        self, stored: Sequence[Any], events: Sequence[Any], log_table: sql.Composable
    ) -> PreparedInsert | None:
        """Before the log's lock: every projection's statements for these
        events, to go out with the insert in one message; None when a
        handler reads (then `before_insert` and `after_insert` do it)."""
        runner, names = self.runner, self.names
        recording = RecordingCursor()
        batches = {n: BatchingCursor(recording) for n in names}
        appliers = {n: applier(runner.projections[n]) for n in names}
        last: dict[str, int] = {}
        try:
            for index, (record, event) in enumerate(zip(stored, events, strict=True)):
                log_id = LogId(record.originator_id, record.originator_version)
                for name in names:
                    topics = runner.topics[name]
                    if not topics or record.topic in topics:
                        appliers[name](batches[name], log_id, event)  # type: ignore[arg-type]
                        last[name] = index
            for name in names:
                batches[name].flush()
        except NeedsRead:
            return None
        self._compose(log_table)
        assert self._lookups is not None
        statements = [self._lookups.statement(q, p) for q, p in recording.statements]
        return PreparedInsert(
            runner,
            names,
            checks=[(self._check, [*names, len(names)])],
            writes=[*statements, (self._move, names)],
            last=last,
        )

    def before_insert(self, cursor: Cursor, log_table: sql.Composable) -> None:
        """Queued after the log's lock is taken: the positions of the
        projections that no catch-up holds now, and the head of the log."""
        self._compose(log_table)
        cursor.execute(self._positions, self.names)

    def after_insert(
        self, cursor: Cursor, notifications: Sequence[Notification], events: Sequence[Any]
    ) -> Callable[[], None]:
        """Apply the inserted events to every projection that stood at the
        head before them. One a catch-up holds, or one behind the head, is
        left to the catch-up: the inserted events come after the ones it
        still lacks."""
        rows = cursor.fetchall()
        current = {
            str(r["name"]): int(r["position"])
            for r in rows
            if int(r["position"]) == int(r["head"] or 0)
        }
        if not current or not notifications:
            return lambda: None
        last = notifications[-1].id
        applied = self.runner.apply_events(cursor, notifications, current, events)
        self.runner.set_positions(cursor, sorted(current), last)
        return lambda: self.runner.advance(dict.fromkeys(current, last), applied)

    def _compose(self, log_table: sql.Composable) -> None:
        if self._log_table == log_table:
            return
        parts = {
            "positions": POSITIONS,
            "log": log_table,
            "names": sql.SQL(", ").join(sql.Placeholder() * len(self.names)),
        }
        self._positions = _text(
            "SELECT p.name, p.position, h.head FROM {positions} AS p,"
            " (SELECT MAX(notification_id) AS head FROM {log}) AS h"
            " WHERE p.name IN ({names}) ORDER BY p.name FOR UPDATE OF p SKIP LOCKED",
            parts,
        )
        # Every projection at the head, locked without waiting; else the
        # statement fails, by a division by zero rather than a constant
        # error, which PostgreSQL would raise while planning even when all
        # is well.
        self._check = _text(
            "WITH held AS (SELECT name, position FROM {positions} WHERE name IN ({names})"
            " FOR UPDATE NOWAIT) SELECT 1 / (CASE WHEN count(*) = %s AND"
            " bool_and(position = (SELECT COALESCE(MAX(notification_id), 0) FROM {log}))"
            " THEN 1 ELSE 0 END) FROM held",
            parts,
        )
        # After the insert the head is its last id.
        self._move = _text(
            "UPDATE {positions} SET position = (SELECT MAX(notification_id) FROM {log})"
            " WHERE name IN ({names})",
            parts,
        )
        self._lookups = IdLookups(log_table)
        self._log_table = log_table


def _text(template: str, parts: dict[str, sql.Composable]) -> str:
    """A statement composed once, as text (composing costs more than running it)."""
    return sql.SQL(template).format(**parts).as_string(None)


class PreparedInsert:
    """A write's projection statements, sent with its insert: a check that
    every projection stands at the head of the log and that no catch-up
    holds one (otherwise the whole transaction fails, and the insert is
    tried the other way), then, after the insert, the statements and the
    positions' move."""

    def __init__(
        self,
        runner: ProjectionRunner,
        names: list[str],
        checks: Sequence[tuple[str, Params]],
        writes: Sequence[tuple[str, Params]],
        last: dict[str, int],
    ) -> None:
        self._runner = runner
        self._names = names
        self._checks = checks
        self._writes = writes
        self._last = last  # per projection, the index of the last event it took

    @property
    def checks(self) -> Sequence[tuple[str, Params]]:
        return self._checks

    @property
    def writes(self) -> Sequence[tuple[str, Params]]:
        return self._writes

    def committed(self, ids: Sequence[int]) -> None:
        self._runner.advance(
            dict.fromkeys(self._names, max(ids)), {n: ids[i] for n, i in self._last.items()}
        )
