"""Reads over the audit index: filtered, paged, and limited to what a caller may see."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql

from infra.database import Database, Row
from projections.audit.owners import as_id
from projections.base import format_time

AUDIT = sql.Identifier("audit_events")
OWNERS = sql.Identifier("audit_owners")
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class Visibility:
    """A non-admin caller: the events of resources their project owns, and
    the events they caused themselves while acting in it."""

    project_id: str
    user_id: str

    def condition(self) -> tuple[sql.Composable, list[Any]]:
        return (
            sql.SQL("({} = %s OR ({} = %s AND {} = %s))").format(
                sql.Identifier("project_id"),
                sql.Identifier("actor_project_id"),
                sql.Identifier("user_id"),
            ),
            [self.project_id, self.project_id, self.user_id],
        )

    def allows(self, row: Row) -> bool:
        return row.get("project_id") == self.project_id or (
            row.get("actor_project_id") == self.project_id and row.get("user_id") == self.user_id
        )


@dataclass(frozen=True)
class AuditFilter:
    resource_id: str | None = None
    project_id: str | None = None
    user_id: str | None = None
    request_id: str | None = None
    event_type: str | None = None  # exact, or a prefix ending in `*`
    resource_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: int = 0  # the marker: a notification id
    limit: int = DEFAULT_LIMIT
    descending: bool = False
    before: int | None = None  # the marker when descending
    visibility: Visibility | None = None  # None: an admin, sees everything

    def where(self) -> tuple[sql.Composable, list[Any]]:
        conditions: list[sql.Composable] = []
        params: list[Any] = []
        for column, value in (
            ("resource_id", as_id(self.resource_id)),
            ("project_id", as_id(self.project_id)),
            ("user_id", as_id(self.user_id)),
            ("request_id", self.request_id),
            ("resource_type", self.resource_type),
        ):
            if value:
                conditions.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                params.append(value)
        if self.event_type:
            if self.event_type.endswith("*"):
                conditions.append(sql.SQL("{} LIKE %s").format(sql.Identifier("event_type")))
                params.append(self.event_type[:-1].replace("%", "") + "%")
            else:
                conditions.append(sql.SQL("{} = %s").format(sql.Identifier("event_type")))
                params.append(self.event_type)
        if self.since is not None:
            conditions.append(sql.SQL("{} >= %s").format(sql.Identifier("occurred_at")))
            params.append(format_time(self.since))
        if self.until is not None:
            conditions.append(sql.SQL("{} <= %s").format(sql.Identifier("occurred_at")))
            params.append(format_time(self.until))
        if self.after:
            conditions.append(sql.SQL("{} > %s").format(sql.Identifier("notification_id")))
            params.append(self.after)
        if self.before is not None:
            conditions.append(sql.SQL("{} < %s").format(sql.Identifier("notification_id")))
            params.append(self.before)
        if self.visibility is not None:
            condition, values = self.visibility.condition()
            conditions.append(condition)
            params.extend(values)
        if not conditions:
            return sql.SQL(""), []
        return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions), params


class AuditQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    def search(self, wanted: AuditFilter) -> list[Row]:
        where, params = wanted.where()
        order = sql.SQL("DESC" if wanted.descending else "ASC")
        limit = max(0, min(wanted.limit, MAX_LIMIT))
        query = sql.SQL("SELECT * FROM {}{} ORDER BY {} {} LIMIT %s").format(
            AUDIT, where, sql.Identifier("notification_id"), order
        )
        return self.db.query(query, [*params, limit])

    def between(self, after: int, last: int) -> list[Row]:
        """Every row with after < notification id <= last, in log order."""
        return self.db.query(
            sql.SQL(
                "SELECT * FROM {} WHERE notification_id > %s AND notification_id <= %s "
                "ORDER BY notification_id"
            ).format(AUDIT),
            [after, last],
        )

    def owner(self, resource_id: str) -> str | None:
        rows = self.db.query(
            sql.SQL("SELECT project_id FROM {} WHERE resource_id = %s").format(OWNERS),
            [as_id(resource_id)],
        )
        return None if not rows else rows[0]["project_id"]

    def first_event(self, resource_id: str) -> Row | None:
        rows = self.search(AuditFilter(resource_id=resource_id, limit=1))
        return rows[0] if rows else None

    def resources_of(self, project_id: str, until: datetime) -> list[Row]:
        """Every resource the project owned an event of by `until`."""
        return self.db.query(
            sql.SQL(
                "SELECT resource_id, MIN(resource_type) AS resource_type, "
                "MIN(occurred_at) AS first_seen FROM {} "
                "WHERE project_id = %s AND occurred_at <= %s "
                "GROUP BY resource_id ORDER BY first_seen, resource_id"
            ).format(AUDIT),
            [as_id(project_id), format_time(until)],
        )

    def count(self) -> int:
        rows = self.db.query(sql.SQL("SELECT COUNT(*) AS n FROM {}").format(AUDIT))
        return int(rows[0]["n"])


def ids_of(rows: Sequence[Row]) -> list[int]:
    return [int(r["notification_id"]) for r in rows]
