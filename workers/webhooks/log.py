"""The delivery worker's own tables: each webhook's position and every attempt.

Not a projection: these rows record what happened outside (an endpoint
answered 500 at 10:02), which no replay of the log could reproduce.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from infra.database import Cursor, Database, Row

DELIVERIES = sql.Identifier("webhook_deliveries")
POSITIONS = sql.Identifier("webhook_positions")
DELIVERED, RETRYING, FAILED = "delivered", "retrying", "failed"


@dataclass(frozen=True)
class Attempt:
    webhook_id: str
    notification_id: int
    attempt: int
    outcome: str  # delivered | retrying | failed
    status_code: int | None
    error: str | None
    at: str
    duration_ms: float


class DeliveryLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def setup(self) -> None:
        with self.db.transaction() as cur:
            cur.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (webhook_id TEXT NOT NULL, "
                    "notification_id BIGINT NOT NULL, attempt INTEGER NOT NULL, "
                    "outcome TEXT NOT NULL, status_code INTEGER, error TEXT, at TEXT NOT NULL, "
                    "duration_ms DOUBLE PRECISION NOT NULL, "
                    "PRIMARY KEY (webhook_id, notification_id, attempt))"
                ).format(DELIVERIES)
            )
            cur.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (webhook_id TEXT PRIMARY KEY, "
                    "position BIGINT NOT NULL)"
                ).format(POSITIONS)
            )

    def position(self, webhook_id: str) -> int | None:
        rows = self.db.query(
            sql.SQL("SELECT position FROM {} WHERE webhook_id = %s").format(POSITIONS),
            [webhook_id],
        )
        return int(rows[0]["position"]) if rows else None

    def record(self, attempt: Attempt, position: int | None = None) -> None:
        """Log an attempt and, when the event is done with, move past it in
        the same transaction: a crash between the two cannot skip an event."""
        with self.db.transaction() as cur:
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} (webhook_id, notification_id, attempt, outcome, status_code, "
                    "error, at, duration_ms) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (webhook_id, notification_id, attempt) DO NOTHING"
                ).format(DELIVERIES),
                [
                    attempt.webhook_id,
                    attempt.notification_id,
                    attempt.attempt,
                    attempt.outcome,
                    attempt.status_code,
                    attempt.error,
                    attempt.at,
                    attempt.duration_ms,
                ],
            )
            if position is not None:
                self._set_position(cur, attempt.webhook_id, position)

    def start_at(self, webhook_id: str, position: int) -> None:
        with self.db.transaction() as cur:
            self._set_position(cur, webhook_id, position)

    def _set_position(self, cur: Cursor, webhook_id: str, position: int) -> None:
        cur.execute(
            sql.SQL(
                "INSERT INTO {} (webhook_id, position) VALUES (%s, %s) "
                "ON CONFLICT (webhook_id) DO UPDATE SET position = excluded.position"
            ).format(POSITIONS),
            [webhook_id, position],
        )

    def deliveries(self, webhook_id: str, limit: int = 100, after: int = 0) -> list[Row]:
        """Attempts for one webhook, oldest event first, paged by notification id."""
        return self.db.query(
            sql.SQL(
                "SELECT * FROM {} WHERE webhook_id = %s AND notification_id > %s "
                "ORDER BY notification_id, attempt LIMIT %s"
            ).format(DELIVERIES),
            [webhook_id, after, limit],
        )
