"""The webhooks read model: who subscribed to what, for the API and the delivery worker."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from domain.webhooks import Webhook
from infra.database import Cursor, Database, Row
from projections.base import Projection, Table, from_json, handles

T = "TEXT"

WEBHOOKS_TABLE = Table(
    "webhooks",
    (
        ("id", T),
        ("url", T),
        ("secret", T),
        ("project_id", T),
        ("user_id", T),
        ("types", T),
        ("filter_project_id", T),
        ("filter_resource_id", T),
        ("description", T),
        ("created_at", T),
    ),
    ("id",),
    (("project_id",),),
)


def _hex(value: Any) -> str | None:
    return None if value is None else value.hex


class WebhookProjection(Projection):
    name = "webhooks"
    tables = (WEBHOOKS_TABLE,)

    @handles(Webhook.Created)
    def _created(self, cur: Cursor, e: Webhook.Created) -> None:
        self.upsert(
            cur,
            "webhooks",
            {
                "id": e.originator_id.hex,
                "url": e.url,
                "secret": e.secret,
                "project_id": _hex(e.project_id),
                "user_id": e.user_id,
                "types": e.types,
                "filter_project_id": _hex(e.filter_project_id),
                "filter_resource_id": _hex(e.filter_resource_id),
                "description": e.description,
                "created_at": e.timestamp,
            },
        )

    @handles(Webhook.Deleted)
    def _deleted(self, cur: Cursor, e: Webhook.Deleted) -> None:
        self.delete(cur, "webhooks", {"id": e.originator_id.hex})


def _decode(row: Row) -> Row:
    return {**row, "types": from_json(row["types"], [])}


class WebhookQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    def all(self, project_id: str | None = None) -> list[Row]:
        """Every webhook, or those a project owns, oldest first."""
        where, params = sql.SQL(""), []
        if project_id is not None:
            where, params = sql.SQL(" WHERE project_id = %s"), [project_id]
        rows = self.db.query(
            sql.SQL("SELECT * FROM {}{} ORDER BY created_at, id").format(
                sql.Identifier("webhooks"), where
            ),
            params,
        )
        return [_decode(r) for r in rows]

    def get(self, webhook_id: str) -> Row | None:
        rows = self.db.query(
            sql.SQL("SELECT * FROM {} WHERE id = %s").format(sql.Identifier("webhooks")),
            [webhook_id],
        )
        return _decode(rows[0]) if rows else None


def public_webhook(row: Row) -> dict[str, Any]:
    """A webhook as the API shows it: never its secret."""
    return {k: v for k, v in row.items() if k != "secret"}
