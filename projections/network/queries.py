"""Reads over the network read models: documents for the API, facts for commands.

Visibility is decided here, in SQL: a project sees its own resources plus
shared and external networks (and their subnets); an admin sees everything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from domain.network.quotas import DEFAULT_QUOTAS
from domain.network.rules import RULE_REVISION
from infra.database import Database, Row
from projections.base import from_json
from projections.network.tables import COLLECTIONS

Doc = dict[str, Any]


@dataclass(frozen=True)
class Window:
    """A page in id order, cut in SQL: up to `limit` + 1 rows after (or, in
    reverse, before) `marker`, so the caller also learns whether more exist."""

    limit: int
    marker: str | None = None
    reverse: bool = False


def document(row: Row) -> Doc:
    """A row as Neutron shows the resource."""
    doc: Doc = json.loads(row["body"])
    doc.update(
        project_id=row["project_id"],
        tenant_id=row["project_id"],
        revision_number=int(row["revision_number"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
    return doc


def _in(column: str, values: Sequence[Any]) -> tuple[sql.Composable, list[Any]]:
    placeholders = sql.SQL(", ").join(sql.Placeholder() * len(values))
    return sql.SQL("{} IN ({})").format(sql.Identifier(column), placeholders), list(values)


class NetworkQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _visibility(self, table: str, project_id: str | None) -> tuple[sql.Composable, list[Any]]:
        if project_id is None:
            return sql.SQL("TRUE"), []
        if table == "net_networks":
            return sql.SQL("(project_id = %s OR shared OR external)"), [project_id]
        if table == "net_subnets":
            return (
                sql.SQL(
                    "(project_id = %s OR network_id IN (SELECT id FROM {} WHERE shared OR external))"
                ).format(sql.Identifier("net_networks")),
                [project_id],
            )
        return sql.SQL("project_id = %s"), [project_id]

    def select(
        self,
        collection: str,
        project_id: str | None,
        equals: Mapping[str, Sequence[Any]] | None = None,
        window: Window | None = None,
    ) -> list[Doc]:
        """Visible resources of a collection in id order; `equals` filters
        columns (values ORed); `window` pages by id in SQL (see Window)."""
        table = COLLECTIONS[collection]
        condition, params = self._visibility(table, project_id)
        conditions = [condition]
        for column, values in (equals or {}).items():
            if not values:
                return []
            clause, more = _in(column, values)
            conditions.append(clause)
            params.extend(more)
        order, limit = sql.SQL("id"), sql.SQL("")
        if window is not None:
            if window.marker:
                conditions.append(sql.SQL("id < %s" if window.reverse else "id > %s"))
                params.append(window.marker)
            order = sql.SQL("id DESC" if window.reverse else "id")
            limit = sql.SQL(" LIMIT %s")
            params.append(window.limit + 1)
        query = sql.SQL("SELECT * FROM {} WHERE {} ORDER BY {}{}").format(
            sql.Identifier(table), sql.SQL(" AND ").join(conditions), order, limit
        )
        docs = [document(r) for r in self.db.query(query, params)]
        if window is not None and window.reverse:
            docs.reverse()
        if collection == "security-groups":
            self._attach_rules(docs)
        return docs

    def get(self, collection: str, ident: str, project_id: str | None) -> Doc | None:
        found = self.select(collection, project_id, {"id": [ident]})
        return found[0] if found else None

    def _attach_rules(self, groups: list[Doc]) -> None:
        if not groups:
            return
        clause, params = _in("security_group_id", [g["id"] for g in groups])
        rows = self.db.query(
            sql.SQL("SELECT * FROM {} WHERE {} ORDER BY id").format(
                sql.Identifier("net_security_group_rules"), clause
            ),
            params,
        )
        by_group: dict[str, list[Doc]] = {g["id"]: [] for g in groups}
        for row in rows:
            rule = document(row)
            rule["revision_number"] = RULE_REVISION
            by_group[rule["security_group_id"]].append(rule)
        for group in groups:
            group["security_group_rules"] = by_group[group["id"]]

    def count(self, collection: str, project_id: str) -> int:
        table = COLLECTIONS[collection]
        rows = self.db.query(
            sql.SQL("SELECT COUNT(*) AS n FROM {} WHERE project_id = %s").format(
                sql.Identifier(table)
            ),
            [project_id],
        )
        return int(rows[0]["n"])

    # -- quotas -----------------------------------------------------------
    def quota_overrides(self) -> dict[str, dict[str, int]]:
        rows = self.db.query(
            sql.SQL("SELECT project_id, limits FROM {} ORDER BY project_id").format(
                sql.Identifier("net_quotas")
            )
        )
        return {r["project_id"]: from_json(r["limits"], {}) for r in rows if r["limits"] != "{}"}

    def quotas(self, project_id: str) -> dict[str, int]:
        # One project's row: every create checks its quota, and reading
        # every project's overrides made that cost grow with the cloud.
        rows = self.db.query(
            sql.SQL("SELECT limits FROM {} WHERE project_id = %s").format(
                sql.Identifier("net_quotas")
            ),
            [project_id],
        )
        overrides: dict[str, int] = from_json(rows[0]["limits"], {}) if rows else {}
        return {**DEFAULT_QUOTAS, **overrides}

    def quota_usage(self, project_id: str, resource: str, collection: str) -> tuple[int, int]:
        """A project's limit on `resource` and how many of `collection` it
        holds, in one statement (every create checks this before its
        command). The count is only made when the limit is not -1."""
        if self.db.dialect == "postgres":
            limit = sql.SQL("(limits::jsonb ->> %s)::bigint")
            key = resource
        else:
            limit = sql.SQL("CAST(json_extract(limits, %s) AS INTEGER)")
            key = '$."' + resource + '"'
        rows = self.db.query(
            sql.SQL(
                "SELECT q.lim AS lim, CASE WHEN q.lim < 0 THEN 0 ELSE"
                " (SELECT COUNT(*) FROM {table} WHERE project_id = %s) END AS n"
                " FROM (SELECT COALESCE((SELECT {limit} FROM {quotas} WHERE project_id = %s"
                " LIMIT 1), %s) AS lim) AS q"
            ).format(
                table=sql.Identifier(COLLECTIONS[collection]),
                limit=limit,
                quotas=sql.Identifier("net_quotas"),
            ),
            [project_id, key, project_id, DEFAULT_QUOTAS.get(resource, -1)],
        )
        return int(rows[0]["lim"]), int(rows[0]["n"])

    # -- facts the API passes to commands ----------------------------------
    def ports_of_network(self, network_id: str) -> list[Doc]:
        return self.select("ports", None, {"network_id": [network_id]})

    def floatingips_of_port(self, port_id: str) -> list[str]:
        return [d["id"] for d in self.select("floatingips", None, {"port_id": [port_id]})]

    def group_in_use(self, group_id: str) -> bool:
        return any(group_id in p.get("security_groups", []) for p in self.select("ports", None))

    def router_for(self, floating_network_id: str, subnet_ids: Iterable[str]) -> str | None:
        """The router that joins one of the subnets to the floating IP's network."""
        wanted = set(subnet_ids)
        interfaces = self.select("ports", None, {"device_owner": ["network:router_interface"]})
        for port in interfaces:
            if not wanted & {f["subnet_id"] for f in port.get("fixed_ips", [])}:
                continue
            router = self.get("routers", port["device_id"], None)
            gateway = (router or {}).get("external_gateway_info") or {}
            if gateway.get("network_id") == floating_network_id:
                return str(port["device_id"])
        return None


def host_state(db: Database, host: str, all_routers: bool = False) -> dict[str, Any]:
    """Everything the network agent of `host` must converge (see host_state.py)."""
    from projections.network import host_state as module  # it builds on this module

    return module.host_state(db, host, all_routers)
