"""Reads over the compute read model for the API: servers with filters and
markers, flavors, key pairs, hosts, quotas and instance actions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from domain.compute import states as s
from domain.compute.quotas import DEFAULT_QUOTAS
from domain.errors import InvalidInput
from infra.database import Database, Row
from projections.base import from_json

Doc = dict[str, Any]


@dataclass
class ServerFilter:
    project_id: str | None = None  # None: every project (admin with all_tenants)
    name: str | None = None  # a regular expression, as in Nova
    vm_states: Sequence[str] | None = None
    image_id: str | None = None
    flavor_id: str | None = None
    host: str | None = None
    reservation_id: str | None = None
    changes_since: str | None = None  # includes deleted servers, as in Nova
    deleted: bool = False
    tags: list[str] = field(default_factory=list)
    tags_any: list[str] = field(default_factory=list)
    not_tags: list[str] = field(default_factory=list)
    not_tags_any: list[str] = field(default_factory=list)


def server_doc(row: Row) -> Doc:
    doc: Doc = dict(row)
    doc["body"] = from_json(row["body"], {})
    doc["tags"] = from_json(row["tags"], [])
    return doc


def _tags_match(tags: set[str], f: ServerFilter) -> bool:
    if f.tags and not set(f.tags) <= tags:
        return False
    if f.tags_any and not set(f.tags_any) & tags:
        return False
    if f.not_tags and set(f.not_tags) <= tags:
        return False
    return not (f.not_tags_any and set(f.not_tags_any) & tags)


class ComputeQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _rows(self, table: str, where: dict[str, Any], order: str = "") -> list[Row]:
        conditions = [sql.SQL("{} = %s").format(sql.Identifier(k)) for k in where]
        query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))
        if conditions:
            query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions)
        if order:
            query += sql.SQL(" ORDER BY ") + sql.SQL(", ").join(
                sql.Identifier(c) for c in order.split(",")
            )
        return self.db.query(query, list(where.values()))

    # -- servers ------------------------------------------------------------------
    def _where(self, f: ServerFilter) -> tuple[list[sql.Composable], list[Any]] | None:
        """SQL conditions for the filter's column tests (None: nothing can match)."""
        conditions: list[sql.Composable] = []
        params: list[Any] = []

        def equal(column: str, value: Any) -> None:
            conditions.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)

        if f.project_id is not None:
            equal("project_id", f.project_id)
        for column, value in (
            ("image_id", f.image_id),
            ("flavor_id", f.flavor_id),
            ("host", f.host),
            ("reservation_id", f.reservation_id),
        ):
            if value is not None:
                equal(column, value)
        if f.changes_since is not None:
            conditions.append(sql.SQL("updated_at >= %s"))
            params.append(f.changes_since)
        elif f.deleted:
            equal("deleted", True)
        elif not (f.vm_states and s.DELETED in f.vm_states):
            equal("deleted", False)
        if f.vm_states is not None:
            if not f.vm_states:
                return None
            conditions.append(
                sql.SQL("vm_state IN ({})").format(
                    sql.SQL(", ").join(sql.Placeholder() * len(f.vm_states))
                )
            )
            params.extend(f.vm_states)
        return conditions, params

    def _select(
        self, conditions: list[sql.Composable], params: list[Any], limit: int | None
    ) -> list[Doc]:
        query: sql.Composable = sql.SQL("SELECT * FROM compute_servers")
        if conditions:
            query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions)
        query += sql.SQL(" ORDER BY created_at DESC, id DESC")
        if limit is not None:
            query += sql.SQL(" LIMIT %s")
            params = [*params, limit]
        return [server_doc(r) for r in self.db.query(query, params)]

    def _in_python(self, f: ServerFilter, docs: list[Doc]) -> list[Doc]:
        """The filters SQL cannot run on both backends: name regex and tag sets."""
        if f.name:
            try:
                pattern = re.compile(f.name)
            except re.error as error:
                raise InvalidInput(f"Invalid regular expression for name: {f.name}") from error
            docs = [d for d in docs if pattern.search(d["name"])]
        if f.tags or f.tags_any or f.not_tags or f.not_tags_any:
            docs = [d for d in docs if _tags_match(set(d["tags"]), f)]
        return docs

    def servers(self, f: ServerFilter) -> list[Doc]:
        """Every matching server, newest first (Nova's default sort)."""
        where = self._where(f)
        return [] if where is None else self._in_python(f, self._select(*where, None))

    def page(self, f: ServerFilter, marker: str | None, limit: int) -> tuple[list[Doc], bool]:
        """One page of matching servers after `marker`, and whether more follow.

        Pages by keyset on (created_at, id) in SQL, so a page costs the same
        at any depth; only name and tag filters make it read the rest.
        """
        where = self._where(f)
        if where is None:
            return [], False
        conditions, params = where
        if marker:
            rows = self._rows("compute_servers", {"id": marker})
            if not rows:
                raise InvalidInput(f"marker [{marker}] not found")
            at = rows[0]["created_at"]
            conditions = [
                *conditions,
                sql.SQL("(created_at < %s OR (created_at = %s AND id < %s))"),
            ]
            params = [*params, at, at, marker]
        python_side = bool(f.name or f.tags or f.tags_any or f.not_tags or f.not_tags_any)
        docs = self._select(conditions, params, None if python_side else limit + 1)
        docs = self._in_python(f, docs)
        return docs[:limit], len(docs) > limit

    def server(self, server_id: str, project_id: str | None) -> Doc | None:
        where: dict[str, Any] = {"id": server_id, "deleted": False}
        if project_id is not None:
            where["project_id"] = project_id
        rows = self._rows("compute_servers", where)
        return server_doc(rows[0]) if rows else None

    def any_server(self, server_id: str) -> Doc | None:
        """Deleted ones too (instance actions outlive their server)."""
        rows = self._rows("compute_servers", {"id": server_id})
        return server_doc(rows[0]) if rows else None

    def console(self, server_id: str) -> str:
        rows = self._rows("compute_console", {"server_id": server_id})
        return str(rows[0]["output"]) if rows else ""

    def actions(self, server_id: str) -> list[Doc]:
        rows = self._rows("compute_instance_actions", {"server_id": server_id})
        docs = [dict(r) | {"events": from_json(r["events"], [])} for r in rows]
        return sorted(docs, key=lambda d: (d["start_time"], d["request_id"]), reverse=True)

    def usage(self, project_id: str) -> dict[str, int]:
        rows = self._rows("compute_servers", {"project_id": project_id, "deleted": False})
        flavors = [from_json(r["body"], {}).get("flavor", {}) for r in rows]
        return {
            "instances": len(rows),
            "cores": sum(int(f.get("vcpus", 0)) for f in flavors),
            "ram": sum(int(f.get("ram", 0)) for f in flavors),
        }

    # -- flavors, key pairs, quotas ------------------------------------------------
    def flavors(self) -> list[Doc]:
        rows = self._rows("compute_flavors", {}, "flavorid")
        return [self._flavor(r) for r in rows]

    def flavor(self, flavorid: str) -> Doc | None:
        rows = self._rows("compute_flavors", {"flavorid": flavorid})
        return self._flavor(rows[0]) if rows else None

    @staticmethod
    def _flavor(row: Row) -> Doc:
        doc: Doc = dict(row)
        doc["extra_specs"] = from_json(row["extra_specs"], {})
        doc["projects"] = from_json(row["projects"], [])
        doc["is_public"] = bool(row["is_public"])
        return doc

    def keypairs(self, user_id: str) -> list[Doc]:
        return [dict(r) for r in self._rows("compute_keypairs", {"user_id": user_id}, "name")]

    def keypair(self, user_id: str, name: str) -> Doc | None:
        rows = self._rows("compute_keypairs", {"user_id": user_id, "name": name})
        return dict(rows[0]) if rows else None

    def quota_limits(self, project_id: str) -> dict[str, int]:
        rows = self._rows("compute_quotas", {"project_id": project_id})
        limits = from_json(rows[0]["limits"], {}) if rows else {}
        return {**DEFAULT_QUOTAS, **limits}

    # -- hosts --------------------------------------------------------------------
    def hosts(self) -> list[Doc]:
        rows = self._rows("compute_hosts", {}, "number,hostname")
        return [
            dict(r)
            | {
                "inventory": from_json(r["inventory"], {}),
                "claims": from_json(r["claims"], {}),
            }
            for r in rows
        ]
