"""The audit index: one row per event of the log, whatever its kind.

Who did what to which resource, when, in which request, on behalf of which
project; the events themselves stay in the log and are fetched by
notification id. The owning project of a resource is remembered in its own
table, so every later event of a resource inherits it even when the event
does not repeat it (an Updated or Deleted event never does).
"""

from __future__ import annotations

import functools
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic
from psycopg import sql

from infra.database import Cursor

# The event naming is the envelope's, so a type filter reads the same on the
# audit API, the HTTP feed and NATS.
from infra.envelope import name_parts
from infra.eventstore import event_meta
from projections.audit.owners import as_id, owner_in
from projections.base import Projection, Table, to_column

T, N = "TEXT", "BIGINT"
# The log's table, as infra.eventstore.open_recorder names it.
EVENTS_TABLE = sql.Identifier("events")

AUDIT_TABLE = Table(
    "audit_events",
    (
        ("notification_id", N),
        ("occurred_at", T),
        ("resource_id", T),
        ("resource_type", T),
        ("service", T),
        ("event_type", T),
        ("version", N),
        ("user_id", T),
        ("actor_project_id", T),
        ("project_id", T),
        ("request_id", T),
        ("idempotency_key", T),
        ("source", T),
    ),
    ("notification_id",),
    # Each filter of GET /v1/audit leads with its column and ends with the
    # paging key, so a filtered page is an index range scan, never a sort.
    (
        ("resource_id", "notification_id"),
        ("project_id", "notification_id"),
        ("actor_project_id", "notification_id"),
        ("user_id", "notification_id"),
        ("request_id", "notification_id"),
        ("event_type", "notification_id"),
        ("resource_type", "notification_id"),
        ("occurred_at",),
    ),
)
OWNERS_TABLE = Table(
    "audit_owners",
    (("resource_id", T), ("project_id", T)),
    ("resource_id",),
    (("project_id",),),
)


def event_type(topic: str) -> str:
    """`strata.identity.user.created`: the CloudEvents type of a topic."""
    service, resource, name = name_parts(topic)
    return f"strata.{service}.{resource}.{name}"


class AuditProjection(Projection):
    name = "audit"
    tables = (AUDIT_TABLE, OWNERS_TABLE)

    def topics(self) -> list[str]:
        return []  # every event, of every kind, now and in the future

    def apply(self, cursor: Cursor, event: Any) -> None:
        """Index an event that came without its notification id (a rebuild):
        the id and, for an event that names no owner, the owner are read first."""
        fields = vars(event)
        notification_id = self._notification_id(
            cursor, fields["originator_id"], fields["originator_version"]
        )
        resource_id = as_id(fields["originator_id"])
        owner = owner_in(event)
        if owner is not None:
            self.upsert(cursor, "audit_owners", {"resource_id": resource_id, "project_id": owner})
        else:
            owner = self._owner(cursor, resource_id)
        self.upsert(cursor, "audit_events", self._row(notification_id, event, owner))

    def apply_at(self, cursor: Cursor, notification_id: int, event: Any) -> None:
        """Index an event whose notification id the catch-up knows, which a
        write waits for: no read of the log, and the owner of an event that
        names none is looked up inside its own insert, not before it."""
        owner = owner_in(event)
        row = self._row(notification_id, event, owner)
        if owner is not None:
            resource_id = row["resource_id"]
            self.upsert(cursor, "audit_owners", {"resource_id": resource_id, "project_id": owner})
            self.upsert(cursor, "audit_events", row)
            return
        statement = _insert_inheriting_owner(
            self.physical_names["audit_events"], self.physical_names["audit_owners"]
        )
        values = [to_column(row[n]) for n in _INHERITING_COLUMNS]
        cursor.execute(statement, [*values, row["resource_id"]])

    def _row(self, notification_id: int, event: Any, owner: str | None) -> dict[str, Any]:
        fields = vars(event)
        meta = event_meta(event)
        topic = get_topic(type(event))
        service, resource_type, _ = name_parts(topic)
        return {
            "notification_id": notification_id,
            "occurred_at": fields["timestamp"],
            "resource_id": as_id(fields["originator_id"]),
            "resource_type": resource_type,
            "service": service,
            "event_type": event_type(topic),
            "version": fields["originator_version"],
            "user_id": as_id(meta.get("user_id")),
            "actor_project_id": as_id(meta.get("project_id")),
            "project_id": owner,
            "request_id": meta.get("request_id") or None,
            "idempotency_key": meta.get("idempotency_key"),
            "source": meta.get("source"),
        }

    def _notification_id(self, cursor: Cursor, originator_id: UUID, version: int) -> int:
        """The event's position in the log, read from the log's own table.

        Projections receive decoded events, which do not carry it; the read
        models live in the same database as the log on both backends, so
        one primary-key lookup in the same transaction finds it (SQLite's
        recorder numbers events by rowid and keeps ids as 32 hex digits).
        """
        if cursor.dialect == "sqlite":
            query = sql.SQL(
                "SELECT rowid AS n FROM {} WHERE originator_id = %s AND originator_version = %s"
            )
            key: Any = originator_id.hex
        else:
            query = sql.SQL(
                "SELECT notification_id AS n FROM {} WHERE originator_id = %s AND originator_version = %s"
            )
            key = originator_id
        cursor.execute(query.format(EVENTS_TABLE), [key, version])
        row = cursor.fetchone()
        if row is None:
            raise LookupError(f"event {originator_id} v{version} is not in the log")
        return int(row["n"])

    def _owner(self, cursor: Cursor, resource_id: str | None) -> str | None:
        cursor.execute(
            sql.SQL("SELECT project_id FROM {} WHERE resource_id = %s").format(
                self.table("audit_owners")
            ),
            [resource_id],
        )
        row = cursor.fetchone()
        return None if row is None else row["project_id"]


_INHERITING_COLUMNS = tuple(n for n in AUDIT_TABLE.column_names if n != "project_id")


@functools.lru_cache(maxsize=16)
def _insert_inheriting_owner(events_table: str, owners_table: str) -> str:
    """The audit row upsert with its `project_id` read from the owners table
    by a subquery (the resource id is the last parameter), so the row's
    owner is found and written in one statement; as `_owner` then `upsert`
    do, it sees an owner written earlier in the same transaction."""
    names = _INHERITING_COLUMNS
    updates = [n for n in AUDIT_TABLE.column_names if n not in AUDIT_TABLE.primary_key]
    return (
        sql.SQL(
            "INSERT INTO {events} ({columns}, project_id) VALUES ({values},"
            " (SELECT project_id FROM {owners} WHERE resource_id = %s))"
            " ON CONFLICT (notification_id) DO UPDATE SET {updates}"
        )
        .format(
            events=sql.Identifier(events_table),
            columns=sql.SQL(", ").join(map(sql.Identifier, names)),
            values=sql.SQL(", ").join(sql.Placeholder() * len(names)),
            owners=sql.Identifier(owners_table),
            updates=sql.SQL(", ").join(
                sql.SQL("{0} = excluded.{0}").format(sql.Identifier(n)) for n in updates
            ),
        )
        .as_string(None)
    )
