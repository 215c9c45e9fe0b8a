"""Reads over the block storage read model for the API: volumes, snapshots and
attachments with filters and markers, types, quotas and usage."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from domain.errors import InvalidInput
from domain.volume.quotas import DEFAULT_QUOTAS
from infra.database import Database, Row
from projections.base import from_json

Doc = dict[str, Any]


def doc_of(row: Row) -> Doc:
    doc: Doc = dict(row)
    body = from_json(row.get("body"), {})
    doc.pop("body", None)
    return {**body, **doc}


class VolumeQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    def rows(
        self, table: str, where: dict[str, Any], order: str = "", limit: int | None = None
    ) -> list[Row]:
        conditions = [
            sql.SQL("{} IN ({})").format(
                sql.Identifier(k), sql.SQL(", ").join(sql.Placeholder() * len(v))
            )
            if isinstance(v, list)
            else sql.SQL("{} = %s").format(sql.Identifier(k))
            for k, v in where.items()
        ]
        params: list[Any] = []
        for value in where.values():
            if isinstance(value, list):
                if not value:
                    return []
                params.extend(value)
            else:
                params.append(value)
        query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))
        if conditions:
            query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions)
        if order:
            query += sql.SQL(" ORDER BY ") + sql.SQL(", ").join(
                sql.Identifier(c) for c in order.split(",")
            )
        if limit is not None:
            query += sql.SQL(" LIMIT %s")
            params.append(limit)
        return self.db.query(query, params)

    def page(
        self, table: str, where: dict[str, Any], marker: str | None, limit: int
    ) -> tuple[list[Doc], bool]:
        """Newest first, by keyset on (created_at, id) in SQL, so a page costs
        the same at any depth; and whether more follow."""
        conditions: list[sql.Composable] = [
            sql.SQL("{} = %s").format(sql.Identifier(k)) for k in where
        ]
        params: list[Any] = list(where.values())
        if marker:
            found = self.rows(table, {"id": marker})
            if not found:
                raise InvalidInput(f"Invalid input received: marker [{marker}] not found")
            at = found[0]["created_at"]
            conditions.append(sql.SQL("(created_at < %s OR (created_at = %s AND id < %s))"))
            params += [at, at, marker]
        query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))
        if conditions:
            query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions)
        query += sql.SQL(" ORDER BY created_at DESC, id DESC LIMIT %s")
        rows = self.db.query(query, [*params, limit + 1])
        return [doc_of(r) for r in rows[:limit]], len(rows) > limit

    # -- volumes --------------------------------------------------------------
    def volume(self, volume_id: str, project_id: str | None) -> Doc | None:
        where: dict[str, Any] = {"id": volume_id}
        if project_id is not None:
            where["project_id"] = project_id
        rows = self.rows("volume_volumes", where)
        return doc_of(rows[0]) if rows else None

    def attachments_of(self, volume_ids: list[str]) -> dict[str, list[Doc]]:
        out: dict[str, list[Doc]] = {v: [] for v in volume_ids}
        for row in self.rows("volume_attachments", {"volume_id": volume_ids}, "created_at,id"):
            out.setdefault(row["volume_id"], []).append(doc_of(row))
        return out

    def attachment(self, attachment_id: str, project_id: str | None) -> Doc | None:
        where: dict[str, Any] = {"id": attachment_id}
        if project_id is not None:
            where["project_id"] = project_id
        rows = self.rows("volume_attachments", where)
        return doc_of(rows[0]) if rows else None

    def attachments(self, where: dict[str, Any]) -> list[Doc]:
        return [doc_of(r) for r in self.rows("volume_attachments", where, "created_at,id")]

    # -- snapshots ------------------------------------------------------------
    def snapshot(self, snapshot_id: str, project_id: str | None) -> Doc | None:
        where: dict[str, Any] = {"id": snapshot_id}
        if project_id is not None:
            where["project_id"] = project_id
        rows = self.rows("volume_snapshots", where)
        return doc_of(rows[0]) if rows else None

    # -- types ------------------------------------------------------------------
    def types(self) -> list[Doc]:
        return [self._type(r) for r in self.rows("volume_types", {}, "name")]

    def type(self, ref: str) -> Doc | None:
        rows = self.rows("volume_types", {"id": ref}) or self.rows("volume_types", {"name": ref})
        return self._type(rows[0]) if rows else None

    @staticmethod
    def _type(row: Row) -> Doc:
        doc: Doc = dict(row)
        doc["extra_specs"] = from_json(row["extra_specs"], {})
        doc["is_public"] = bool(row["is_public"])
        return doc

    # -- quotas and hosts -------------------------------------------------------
    def quota_limits(self, project_id: str) -> dict[str, int]:
        rows = self.rows("volume_quotas", {"project_id": project_id})
        return {**DEFAULT_QUOTAS, **(from_json(rows[0]["limits"], {}) if rows else {})}

    def usage(self, project_id: str) -> dict[str, int]:
        volumes = self.rows("volume_volumes", {"project_id": project_id})
        snapshots = self.rows("volume_snapshots", {"project_id": project_id})
        return {
            "volumes": len(volumes),
            "snapshots": len(snapshots),
            "gigabytes": sum(int(r["size"]) for r in volumes)
            + sum(int(r["size"]) for r in snapshots),
            "backups": 0,
            "backup_gigabytes": 0,
            "groups": 0,
            "per_volume_gigabytes": 0,
        }

    def hosts(self) -> dict[str, Doc]:
        return {r["hostname"]: from_json(r["facts"], {}) for r in self.rows("volume_hosts", {})}
