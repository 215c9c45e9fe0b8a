"""Reads over the identity read models, for the API and for authentication."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql

from infra.database import Database, Row
from projections.base import format_time, from_json
from projections.identity.projection import TABLES

# Keystone's list filters: `name=x` or `name__contains=x` and friends.
_OPERATORS = {
    "contains": ("LIKE", "%{}%"),
    "icontains": ("LIKE", "%{}%"),
    "startswith": ("LIKE", "{}%"),
    "istartswith": ("LIKE", "{}%"),
    "endswith": ("LIKE", "%{}"),
    "iendswith": ("LIKE", "%{}"),
}

BOOLEAN_COLUMNS = {"enabled", "inherited", "granted", "unrestricted"}
JSON_COLUMNS: dict[str, Any] = {"tags": [], "extra": {}, "role_ids": [], "access_rules": []}


def _decode(row: Row) -> Row:
    out = dict(row)
    for key in BOOLEAN_COLUMNS & out.keys():
        if out[key] is not None:
            out[key] = bool(out[key])
    for key, default in JSON_COLUMNS.items():
        if key in out:
            out[key] = from_json(out[key], default)
    return out


def select(
    db: Database,
    table: str,
    filters: Mapping[str, Any] | None = None,
    order_by: Sequence[str] = ("name",),
    any_of: Mapping[str, Iterable[Any]] | None = None,
) -> list[Row]:
    """Rows matching every filter; `column__op` filters match patterns."""
    conditions: list[sql.Composable] = []
    params: list[Any] = []
    for key, value in (filters or {}).items():
        column, _, op = key.partition("__")
        if op:
            operator, pattern = _OPERATORS[op]
            if op.startswith("i"):
                conditions.append(
                    sql.SQL("LOWER({}) LIKE LOWER(%s)").format(sql.Identifier(column))
                )
            else:
                conditions.append(sql.SQL("{} " + operator + " %s").format(sql.Identifier(column)))
            params.append(pattern.format(value))
        elif value is None:
            conditions.append(sql.SQL("{} IS NULL").format(sql.Identifier(column)))
        else:
            conditions.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    for column, candidates in (any_of or {}).items():
        values = list(candidates)
        if not values:
            return []
        conditions.append(
            sql.SQL("{} IN ({})").format(
                sql.Identifier(column),
                sql.SQL(", ").join(sql.Placeholder() * len(values)),
            )
        )
        params.extend(values)
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    query = sql.SQL("SELECT * FROM {}{} ORDER BY {}").format(
        sql.Identifier(table),
        where,
        sql.SQL(", ").join(map(sql.Identifier, _ordering(table, order_by))),
    )
    return [_decode(r) for r in db.query(query, params)]


_SPECS = {t.name: t for t in TABLES}


def _ordering(table: str, wanted: Sequence[str]) -> list[str]:
    """The wanted sort columns this table has, then its primary key.

    SQLite reads an unknown quoted column as a string literal and sorts by
    nothing; PostgreSQL rejects it. Sorting only by real columns, with the
    key last for a stable order, gives both the same rows in the same order.
    """
    spec = _SPECS[table]
    columns = [c for c in wanted if c in spec.column_names]
    return columns + [k for k in spec.primary_key if k not in columns]


def get(db: Database, table: str, ident: str) -> Row | None:
    rows = select(db, table, {"id": ident}, order_by=("id",))
    return rows[0] if rows else None


@dataclass(frozen=True)
class RoleRef:
    id: str
    name: str
    domain_id: str | None = None


class IdentityQueries:
    def __init__(self, db: Database, version: Callable[[], int] | None = None) -> None:
        self.db = db
        # What identity's read model last changed at; the catalog is cached
        # against it because every token validation renders the catalog.
        self._version = version
        self._catalog: tuple[int, list[dict[str, Any]]] | None = None

    def user_by_name(self, name: str, domain_id: str) -> Row | None:
        rows = select(self.db, "users", {"name": name, "domain_id": domain_id})
        return rows[0] if rows else None

    def domain_by_name(self, name: str) -> Row | None:
        rows = select(self.db, "domains", {"name": name})
        return rows[0] if rows else None

    def project_by_name(self, name: str, domain_id: str) -> Row | None:
        rows = select(self.db, "projects", {"name": name, "domain_id": domain_id})
        return rows[0] if rows else None

    def group_ids_of(self, user_id: str) -> list[str]:
        return [
            r["group_id"]
            for r in select(self.db, "group_members", {"user_id": user_id}, order_by=("group_id",))
        ]

    def direct_assignments(
        self,
        user_id: str,
        target_id: str,
        include_groups: bool = True,
    ) -> list[Row]:
        actors = [user_id] + (self.group_ids_of(user_id) if include_groups else [])
        return select(
            self.db,
            "assignments",
            {"target_id": target_id, "granted": True},
            order_by=("id",),
            any_of={"actor_id": actors},
        )

    def inherited_assignments(self, user_id: str, domain_id: str) -> list[Row]:
        actors = [user_id, *self.group_ids_of(user_id)]
        return select(
            self.db,
            "assignments",
            {"target_id": domain_id, "granted": True, "inherited": True},
            order_by=("id",),
            any_of={"actor_id": actors},
        )

    def effective_roles(
        self, user_id: str, project_id: str | None = None, domain_id: str | None = None
    ) -> list[RoleRef]:
        """Roles a user holds on a project or domain: directly, through groups,
        inherited from the project's domain, and every role those imply."""
        if project_id is not None:
            rows = [r for r in self.direct_assignments(user_id, project_id) if not r["inherited"]]
            project = get(self.db, "projects", project_id)
            if project is not None:
                rows += self.inherited_assignments(user_id, project["domain_id"])
        elif domain_id is not None:
            rows = [r for r in self.direct_assignments(user_id, domain_id) if not r["inherited"]]
        else:
            return []
        return self.expand_roles({r["role_id"] for r in rows})

    def expand_roles(self, role_ids: Iterable[str]) -> list[RoleRef]:
        seen: set[str] = set()
        todo = list(role_ids)
        while todo:
            rid = todo.pop()
            if rid in seen:
                continue
            seen.add(rid)
            todo.extend(
                r["implied_id"]
                for r in select(
                    self.db,
                    "role_implications",
                    {"prior_id": rid},
                    order_by=("implied_id",),
                )
            )
        roles = select(self.db, "roles", any_of={"id": sorted(seen)}) if seen else []
        return [RoleRef(r["id"], r["name"], r["domain_id"]) for r in roles]

    def projects_of(self, user_id: str) -> list[Row]:
        """Projects where the user has any role (direct, group or inherited)."""
        actors = [user_id, *self.group_ids_of(user_id)]
        rows = select(
            self.db,
            "assignments",
            {"granted": True},
            order_by=("id",),
            any_of={"actor_id": actors},
        )
        project_ids = {
            r["target_id"] for r in rows if r["target_type"] == "project" and not r["inherited"]
        }
        inherited_domains = {
            r["target_id"] for r in rows if r["target_type"] == "domain" and r["inherited"]
        }
        projects = (
            select(self.db, "projects", any_of={"id": sorted(project_ids)}) if project_ids else []
        )
        if inherited_domains:
            projects += select(self.db, "projects", any_of={"domain_id": sorted(inherited_domains)})
        unique = {p["id"]: p for p in projects}
        return sorted(unique.values(), key=lambda p: p["name"])

    def domains_of(self, user_id: str) -> list[Row]:
        actors = [user_id, *self.group_ids_of(user_id)]
        rows = select(
            self.db,
            "assignments",
            {"granted": True, "target_type": "domain"},
            order_by=("id",),
            any_of={"actor_id": actors},
        )
        ids = sorted({r["target_id"] for r in rows if not r["inherited"]})
        return select(self.db, "domains", any_of={"id": ids}) if ids else []

    def catalog(self) -> list[dict[str, Any]]:
        if self._version is None:
            return self._read_catalog()
        version = self._version()
        cached = self._catalog
        if cached is not None and cached[0] == version:
            return cached[1]
        catalog = self._read_catalog()
        self._catalog = (version, catalog)
        return catalog

    def _read_catalog(self) -> list[dict[str, Any]]:
        services = select(self.db, "services", {"enabled": True}, order_by=("type", "id"))
        endpoints = select(
            self.db,
            "endpoints",
            {"enabled": True},
            order_by=("service_id", "interface", "id"),
        )
        by_service: dict[str, list[Row]] = {}
        for endpoint in endpoints:
            by_service.setdefault(endpoint["service_id"], []).append(endpoint)
        return [
            {
                "id": s["id"],
                "type": s["type"],
                "name": s["name"],
                "endpoints": [
                    {
                        "id": e["id"],
                        "interface": e["interface"],
                        "region_id": e["region_id"],
                        "region": e["region_id"],
                        "url": e["url"],
                    }
                    for e in by_service.get(s["id"], [])
                ],
            }
            for s in services
        ]

    def is_revoked(
        self,
        audit_ids: Sequence[str],
        user_id: str,
        project_id: str | None,
        domain_id: str | None,
        app_cred_id: str | None,
        issued_at: datetime,
    ) -> bool:
        """Whether any revocation matches a token with these facts."""
        matches = sql.SQL(
            "SELECT 1 FROM revocations WHERE audit_id IN ({}) OR ("
            "issued_before >= %s AND (user_id = %s OR project_id = %s OR domain_id = %s"
            " OR app_credential_id = %s)) LIMIT 1"
        ).format(sql.SQL(", ").join(sql.Placeholder() * len(audit_ids)))
        params: list[Any] = [
            *audit_ids,
            format_time(issued_at),
            user_id,
            project_id,
            domain_id,
            app_cred_id,
        ]
        return bool(self.db.query(matches, params))

    def system_roles(self, user_id: str) -> list[RoleRef]:
        actors = [user_id, *self.group_ids_of(user_id)]
        rows = select(
            self.db,
            "assignments",
            {"granted": True, "target_type": "system"},
            order_by=("id",),
            any_of={"actor_id": actors},
        )
        return self.expand_roles({r["role_id"] for r in rows})

    def assignment_rows(
        self,
        *,
        effective: bool = False,
        user_id: str | None = None,
        group_id: str | None = None,
        role_id: str | None = None,
        project_id: str | None = None,
        domain_id: str | None = None,
        system: bool = False,
        inherited: bool = False,
    ) -> list[Row]:
        """Role assignments as Keystone lists them.

        Effective listing expands group grants into one row per member
        (marked `via_group`), inherited domain grants into one row per project
        of the domain, and adds the roles that granted roles imply.
        """
        rows = select(
            self.db,
            "assignments",
            {"granted": True},
            order_by=("target_type", "target_id", "actor_id", "role_id"),
        )
        if effective:
            rows = self._effective(rows)

        def keep(r: Row) -> bool:
            if user_id and not (r["actor_type"] == "user" and r["actor_id"] == user_id):
                return False
            if group_id and not (r["actor_type"] == "group" and r["actor_id"] == group_id):
                return False
            if role_id and r["role_id"] != role_id:
                return False
            if project_id and not (r["target_type"] == "project" and r["target_id"] == project_id):
                return False
            if domain_id and not (r["target_type"] == "domain" and r["target_id"] == domain_id):
                return False
            if system and r["target_type"] != "system":
                return False
            return not (inherited and not r["inherited"])

        return [r for r in rows if keep(r)]

    def _effective(self, rows: list[Row]) -> list[Row]:
        expanded: list[Row] = []
        for row in rows:
            actors = [(row["actor_id"], None)]
            if row["actor_type"] == "group":
                members = select(
                    self.db,
                    "group_members",
                    {"group_id": row["actor_id"]},
                    order_by=("user_id",),
                )
                actors = [(m["user_id"], row["actor_id"]) for m in members]
            targets = [(row["target_type"], row["target_id"])]
            if row["inherited"]:
                projects = select(
                    self.db,
                    "projects",
                    {"domain_id": row["target_id"]},
                    order_by=("id",),
                )
                targets = [("project", p["id"]) for p in projects]
            roles = [row["role_id"]] + [
                r.id for r in self.expand_roles([row["role_id"]]) if r.id != row["role_id"]
            ]
            for actor_id, via in actors:
                for target_type, target_id in targets:
                    for rid in roles:
                        expanded.append(
                            {
                                **row,
                                "actor_type": "user",
                                "actor_id": actor_id,
                                "via_group": via,
                                "target_type": target_type,
                                "target_id": target_id,
                                "role_id": rid,
                                "inherited": False,
                            }
                        )
        unique = {(r["actor_id"], r["target_id"], r["role_id"]): r for r in expanded}
        return list(unique.values())
