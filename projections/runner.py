"""Keeps projections up to date with the log (rebuilding them from zero is
`projections.rebuild`).

Each batch of events is applied and the projection's position recorded in one
transaction, under a lock on the position row, so any number of processes may
run catch-up at once (the API does, to see its own writes) without applying an
event twice or skipping one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import Notification
from psycopg import sql

from infra.database import Cursor, Database
from infra.eventstore import EventStore
from projections.base import Projection
from projections.batching import BatchingCursor
from projections.rebuild import RebuildReport
from projections.rebuild import rebuild as rebuild_projection

log = logging.getLogger(__name__)

POSITIONS = sql.Identifier("projection_positions")
REPLAY_PAGE = 5000


class ProjectionRunner:
    def __init__(
        self,
        db: Database,
        store: EventStore,
        projections: Sequence[Projection],
        batch_size: int = 1000,
    ) -> None:
        self.db = db
        self.store = store
        self.projections = {p.name: p for p in projections}
        # What each projection handles, asked once: a projection lists its
        # handlers' topics anew on every call.
        self.topics = {p.name: frozenset(p.topics()) for p in projections}
        self.batch_size = batch_size
        # Events per transaction of a rebuild: its tables have no other
        # writers, so larger pages only mean fewer commits.
        self.replay_page = max(batch_size, REPLAY_PAGE)
        self._known: dict[str, int] = {}
        self._changed: dict[str, int] = {}
        self._lock = threading.Lock()
        self._marks = threading.Lock()  # for _known and _changed
        # As text, made once: composing one costs more than running it.
        self._set_positions_sql: dict[int, str] = {}

    def setup(self) -> None:
        with self.db.transaction() as cur:
            cur.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (name TEXT PRIMARY KEY, position BIGINT NOT NULL)"
                ).format(POSITIONS)
            )
            for projection in self.projections.values():
                self.create_tables(cur, projection, with_indexes=True)
                cur.execute(
                    sql.SQL(
                        "INSERT INTO {} (name, position) VALUES (%s, 0) ON CONFLICT (name) DO NOTHING"
                    ).format(POSITIONS),
                    [projection.name],
                )

    def position(self, name: str) -> int:
        rows = self.db.query(
            sql.SQL("SELECT position FROM {} WHERE name = %s").format(POSITIONS), [name]
        )
        return int(rows[0]["position"]) if rows else 0

    def changed_position(self, name: str) -> int:
        """The last event this process applied to `name`'s tables (0: none yet).

        Caches of what a read model says key on this rather than on the
        position, which moves with every event of every service.
        """
        return self._changed.get(name, 0)

    def lowest_known_position(self) -> int:
        return min((self._known.get(n, 0) for n in self.projections), default=0)

    def catch_up(self, name: str, until: int | None = None) -> int:
        """Apply events until the projection reaches `until` (or the head)."""
        projection = self.projections[name]
        topics = projection.topics()
        while True:
            with self.db.transaction() as cur:
                position = self.lock_position(cur, name)
                self._notice_others(name, position, frozenset(topics))
                head = self.store.max_notification_id()
                if position >= head:
                    self.advance({name: position}, {})
                    return position
                notifications = self.store.notifications(
                    after=position, limit=self.batch_size, stop=head, topics=topics
                )
                batch = BatchingCursor(cur)
                for notification in notifications:
                    projection.apply(batch, self.store.decode(notification))
                batch.flush()
                full = len(notifications) == self.batch_size
                new_position = notifications[-1].id if full else head
                self.set_position(cur, name, new_position)
            self.advance(
                {name: new_position}, {name: notifications[-1].id} if notifications else {}
            )
            if not full and (until is None or new_position >= until):
                return new_position

    def catch_up_all(self, until: int | None = None) -> None:
        """Bring every projection to `until` (or the head), together.

        One transaction per batch for all read models: the log is read once
        and each event goes to the projections that handle it. A write waits
        for this before answering, so its cost is per write, not per read model.
        """
        with self._lock:
            self._catch_up_all(until)

    def _catch_up_all(self, until: int | None) -> None:
        # Under the process's lock: a writer's read-your-writes and the
        # projector woken by that same commit would otherwise both open a
        # batch, and the second only wait on the position rows to find
        # nothing left to do. Queued here instead, the second sees the
        # positions the first reached and returns without a transaction.
        if until is None and self._nothing_new():
            return
        while True:
            reached, full = self._catch_up_batch()
            if not full and (until is None or reached >= until):
                return

    def _nothing_new(self) -> bool:
        """Whether the log ends where every projection is known to be, or
        other processes have already taken every projection there.

        Positions never pass the head, so then no process can have moved
        one either: an idle poll costs one read instead of a write
        transaction (on SQLite, the database's one write lock). When
        another process of the cloud wrote, it also projected its write
        before answering; this process then learns the positions it
        reached, and what changed, without waiting for their locks.
        """
        if any(n not in self._known for n in self.projections):
            return False
        head = self.store.max_notification_id()
        if head <= self.lowest_known_position():
            return True
        names = sorted(self.projections)
        rows = self.db.query(
            sql.SQL("SELECT name, position FROM {} WHERE name IN ({})").format(
                POSITIONS, sql.SQL(", ").join(sql.Placeholder() * len(names))
            ),
            names,
        )
        positions = {str(r["name"]): int(r["position"]) for r in rows}
        if len(positions) < len(names) or min(positions.values()) < head:
            return False
        moved = self._moved_by_others(positions)
        if moved:
            notifications, _ = self.store.notifications_to_head(
                after=min(moved.values()), limit=self.batch_size, topics=self._log_topics()
            )
            self._notice(moved, positions, notifications, len(notifications) < self.batch_size)
        self.advance(positions, {})
        return True

    def _log_topics(self) -> list[str]:
        """What a batch reads of the log: an empty list (every event) when
        some projection takes everything (the audit index)."""
        topics = list(self.topics.values())
        if any(not t for t in topics):
            return []
        return sorted({t for ts in topics for t in ts})

    def _moved_by_others(self, positions: dict[str, int]) -> dict[str, int]:
        """The projections some other process moved past what this one
        knows, with what this one knows; a projection this process has not
        seen yet counts as changed right away."""
        moved: dict[str, int] = {}
        for name, position in positions.items():
            if name not in self._known:
                if position > 0:
                    self.advance({}, {name: position})
            elif position > self._known[name]:
                moved[name] = self._known[name]
        return moved

    def _notice(
        self,
        moved: dict[str, int],
        positions: dict[str, int],
        notifications: Sequence[Notification],
        to_head: bool,
    ) -> None:
        """Mark changed each projection of `moved` that others gave any of
        its events, as read in `notifications` (which start right after the
        lowest of `moved`, and reach the head when `to_head`); one whose
        range they do not cover is asked about on its own."""
        last = notifications[-1].id if notifications else 0
        for name, known in moved.items():
            position = positions[name]
            if not to_head and last < position:
                self._notice_others(name, position, self.topics[name])
                continue
            topics = self.topics[name]
            if any(
                known < n.id <= position and (not topics or n.topic in topics)
                for n in notifications
            ):
                self.advance({}, {name: position})

    def _catch_up_batch(self) -> tuple[int, bool]:
        names = sorted(self.projections)  # a fixed order: no lock-order deadlocks
        # Pipelined: BEGIN, the setting and the lock travel together, and so
        # do the writes, the positions and COMMIT. Nothing here recovers
        # from a failed statement; any failure rolls the batch back.
        with self.db.transaction(pipelined=True) as cur:
            if cur.dialect == "postgres":
                # Read models are derived and their position commits with
                # them, so a crash can only lose work that is redone from the
                # log: no need to wait for the disk (the log's own inserts
                # still do).
                cur.execute(sql.SQL("SET LOCAL synchronous_commit TO OFF"))
            positions = self._lock_positions(cur, names)
            moved = self._moved_by_others(positions)
            low = min(positions.values(), default=0)
            # One read of the log: what to apply, and before it what others
            # applied since this process last looked (for its caches).
            notifications, head = self.store.notifications_to_head(
                after=min([low, *moved.values()]),
                limit=self.batch_size,
                topics=self._log_topics(),
            )
            full = len(notifications) == self.batch_size
            self._notice(moved, positions, notifications, not full)
            if low >= head:
                self.advance(positions, {})
                return head, False
            new_position = notifications[-1].id if full else head
            applied = self.apply_events(cur, notifications, positions)
            self.set_positions(cur, [n for n in names if positions[n] < new_position], new_position)
        self.advance({n: max(positions[n], new_position) for n in names}, applied)
        return new_position, full

    def apply_events(
        self,
        cur: Cursor,
        notifications: Sequence[Notification],
        positions: dict[str, int],
        decoded: Sequence[Any] = (),
    ) -> dict[str, int]:
        """Apply to each projection of `positions` the notifications past its
        position that it handles (`decoded`: their events, when the caller
        has them already); the last one each was given."""
        names = sorted(positions)
        topics = self.topics
        applied: dict[str, int] = {}
        batches = {n: BatchingCursor(cur) for n in names}
        appliers = {n: applier(self.projections[n]) for n in names}
        for index, notification in enumerate(notifications):
            wanted = [
                n
                for n in names
                if positions[n] < notification.id
                and (not topics[n] or notification.topic in topics[n])
            ]
            if not wanted:
                continue
            event = decoded[index] if decoded else self.store.decode(notification)
            for name in wanted:
                appliers[name](batches[name], notification.id, event)
                applied[name] = notification.id
        for name in names:
            batches[name].flush()
        return applied

    def advance(self, known: dict[str, int], changed: dict[str, int]) -> None:
        """Record positions reached and changes made, never backwards: the
        insert of another thread may have gone further meanwhile."""
        with self._marks:
            for name, position in known.items():
                self._known[name] = max(self._known.get(name, 0), position)
            for name, position in changed.items():
                self._changed[name] = max(self._changed.get(name, 0), position)

    def _notice_others(self, name: str, position: int, topics: frozenset[str]) -> None:
        """When someone else moved `name` past what this process knows, mark it
        changed if what they applied includes any of its events."""
        known = self._known.get(name, 0)
        if position <= known:
            return
        relevant = self.store.notifications(
            after=known, limit=1, stop=position, topics=sorted(topics)
        )
        if relevant or name not in self._known:
            self.advance({}, {name: position})

    def wait_for(self, notification_id: int) -> None:
        """Read-your-writes: make sure every projection has seen this event.

        The writer helps instead of waiting for a background loop, which keeps
        the extra latency of a write to one short transaction.
        """
        if all(self._known.get(n, 0) >= notification_id for n in self.projections):
            return
        with self._lock:
            if any(self._known.get(n, 0) < notification_id for n in self.projections):
                self._catch_up_all(until=notification_id)

    def rebuild(self, name: str, switch: bool = True) -> RebuildReport:
        """Replay the whole log into fresh tables, then (`switch`) swap them
        in (`projections.rebuild`)."""
        return rebuild_projection(self, name, switch)

    def create_tables(self, cur: Cursor, projection: Projection, with_indexes: bool) -> None:
        for table in projection.tables:
            physical = projection.physical_names[table.name]
            cur.execute(table.create_table(physical))
            if with_indexes:
                for statement in table.create_indexes(physical):
                    cur.execute(statement)

    def lock_position(self, cur: Cursor, name: str) -> int:
        cur.execute(
            sql.SQL("SELECT position FROM {} WHERE name = %s{}").format(
                POSITIONS, cur.lock_row_clause()
            ),
            [name],
        )
        row = cur.fetchone()
        if row is None:
            cur.execute(
                sql.SQL("INSERT INTO {} (name, position) VALUES (%s, 0)").format(POSITIONS),
                [name],
            )
            return 0
        return int(row["position"])

    def _lock_positions(self, cur: Cursor, names: list[str]) -> dict[str, int]:
        """Lock the position rows of `names` in one statement; their positions.

        Rows are locked as the sorted result is produced, so every batch
        takes them in the same order and two batches cannot deadlock.
        """
        cur.execute(
            sql.SQL("SELECT name, position FROM {} WHERE name IN ({}) ORDER BY name{}").format(
                POSITIONS,
                sql.SQL(", ").join(sql.Placeholder() * len(names)),
                cur.lock_row_clause(),
            ),
            names,
        )
        found = {str(row["name"]): int(row["position"]) for row in cur.fetchall()}
        # A projection added since setup: its row is made as a lone lock would.
        return {n: found[n] if n in found else self.lock_position(cur, n) for n in names}

    def set_positions(self, cur: Cursor, names: list[str], position: int) -> None:
        """Move every one of `names` to `position` in one statement."""
        if not names:
            return
        statement = self._set_positions_sql.get(len(names))
        if statement is None:
            statement = self._set_positions_sql[len(names)] = (
                sql.SQL("UPDATE {} SET position = %s WHERE name IN ({})")
                .format(POSITIONS, sql.SQL(", ").join(sql.Placeholder() * len(names)))
                .as_string(None)
            )
        cur.execute(statement, [position, *names])

    def set_position(self, cur: Cursor, name: str, position: int) -> None:
        cur.execute(
            sql.SQL("UPDATE {} SET position = %s WHERE name = %s").format(POSITIONS),
            [position, name],
        )

    def rows(self, logical_table: str, physical: str | None = None) -> list[dict[str, Any]]:
        """Every row of a table in primary-key order (for replay comparisons)."""
        for projection in self.projections.values():
            for table in projection.tables:
                if table.name == logical_table:
                    order = sql.SQL(", ").join(map(sql.Identifier, table.primary_key))
                    return self.db.query(
                        sql.SQL("SELECT * FROM {} ORDER BY {}").format(
                            sql.Identifier(physical or table.name), order
                        )
                    )
        raise KeyError(logical_table)


def applier(projection: Projection) -> Callable[[Cursor, int, Any], None]:
    """How the catch-up hands an event to `projection`: with its notification
    id when the projection takes it (`apply_at`), which saves it looking the
    id up in the log."""
    apply_at: Callable[[Cursor, int, Any], None] | None = getattr(projection, "apply_at", None)
    if apply_at is not None:
        return apply_at
    return lambda cursor, _, event: projection.apply(cursor, event)
