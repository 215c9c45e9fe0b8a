"""Reads over the image read models: show, members, and Glance's list.

Visibility is decided in SQL the way Glance's database layer decides it: a
project sees public and community images, its own, and shared images it is a
member of (with the member status asked for); community images appear in a
list only when asked for by visibility, or when they are the caller's own.
Pages are keyset pages on the sort keys plus created_at and id, so a marker
keeps its place however many images arrive meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from infra.database import Database, Row
from projections.base import from_json

NUMERIC = frozenset({"size", "virtual_size", "min_disk", "min_ram"})
SORT_KEYS = (
    "name",
    "status",
    "container_format",
    "disk_format",
    "size",
    "id",
    "created_at",
    "updated_at",
)
IMAGES = sql.Identifier("images")


@dataclass(frozen=True)
class Viewer:
    project_id: str
    is_admin: bool = False


@dataclass
class ImageFilter:
    """A list request, already checked by the API."""

    equals: dict[str, Any] = field(default_factory=dict)
    any_of: dict[str, list[str]] = field(default_factory=dict)
    visibility: str | None = None
    member_status: str = "accepted"
    # Hidden images stay out of lists unless asked for (Glance's default).
    os_hidden: bool | None = False
    tags: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    ranges: list[tuple[str, str, Any]] = field(default_factory=list)
    sort: list[tuple[str, str]] = field(default_factory=lambda: [("created_at", "desc")])
    limit: int = 25
    marker: str | None = None


def decode(row: Row) -> Row:
    out = dict(row)
    for key in ("protected", "os_hidden"):
        if key in out:
            out[key] = bool(out[key])
    out["tags"] = from_json(out.get("tags"), [])
    out["properties"] = from_json(out.get("properties"), {})
    return out


class ImageQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, image_id: str) -> Row | None:
        rows = self.db.query(sql.SQL("SELECT * FROM {} WHERE id = %s").format(IMAGES), [image_id])
        return decode(rows[0]) if rows else None

    def visible(self, image_id: str, viewer: Viewer) -> Row | None:
        """The image if this viewer may see it (Glance's is_image_visible)."""
        image = self.get(image_id)
        if image is None:
            return None
        if viewer.is_admin or image["owner"] == viewer.project_id:
            return image
        if image["visibility"] in ("public", "community"):
            return image
        if image["visibility"] == "shared" and self.member(image_id, viewer.project_id):
            return image
        return None

    def members(self, image_id: str) -> list[Row]:
        return self.db.query(
            sql.SQL("SELECT * FROM {} WHERE image_id = %s ORDER BY created_at, member").format(
                sql.Identifier("image_members")
            ),
            [image_id],
        )

    def member(self, image_id: str, member: str) -> Row | None:
        rows = self.db.query(
            sql.SQL("SELECT * FROM {} WHERE image_id = %s AND member = %s").format(
                sql.Identifier("image_members")
            ),
            [image_id, member],
        )
        return rows[0] if rows else None

    def with_status(self, status: str) -> list[str]:
        query = sql.SQL("SELECT id FROM {} WHERE status = %s ORDER BY id").format(IMAGES)
        return [r["id"] for r in self.db.query(query, [status])]

    def ids(self) -> set[str]:
        """Every live image id (the store sweeps files no image owns)."""
        return {r["id"] for r in self.db.query(sql.SQL("SELECT id FROM {}").format(IMAGES))}

    def list(self, viewer: Viewer, wanted: ImageFilter) -> list[Row]:
        where, params = _conditions(viewer, wanted)
        keys = _sort_keys(wanted.sort)
        if wanted.marker is not None:
            marker = self.visible(wanted.marker, viewer)
            if marker is None:
                raise LookupError(wanted.marker)
            after, after_params = _after(keys, marker, self.db.dialect)
            where.append(after)
            params += after_params
        order = sql.SQL(", ").join(
            sql.SQL("{} {}").format(_expr(k, self.db.dialect), sql.SQL(d.upper())) for k, d in keys
        )
        query = sql.SQL("SELECT * FROM {} WHERE {} ORDER BY {} LIMIT %s").format(
            IMAGES, sql.SQL(" AND ").join(where), order
        )
        return [decode(r) for r in self.db.query(query, [*params, wanted.limit])]


def _conditions(viewer: Viewer, wanted: ImageFilter) -> tuple[list[sql.Composable], list[Any]]:
    where: list[sql.Composable] = [sql.SQL("TRUE")]
    params: list[Any] = []
    members = sql.Identifier("image_members")
    if not viewer.is_admin:
        status = sql.SQL("")
        status_params: list[Any] = []
        if wanted.member_status != "all":
            status, status_params = sql.SQL(" AND m.status = %s"), [wanted.member_status]
        where.append(
            sql.SQL(
                "(visibility IN ('public', 'community') OR owner = %s OR (visibility = 'shared'"
                " AND EXISTS (SELECT 1 FROM {} m WHERE m.image_id = images.id"
                " AND m.member = %s{})))"
            ).format(members, status)
        )
        params += [viewer.project_id, viewer.project_id, *status_params]
    if wanted.visibility not in (None, "all"):
        where.append(sql.SQL("visibility = %s"))
        params.append(wanted.visibility)
    elif wanted.visibility is None:
        where.append(sql.SQL("(owner = %s OR visibility <> 'community')"))
        params.append(viewer.project_id)
    if wanted.os_hidden is not None:
        where.append(sql.SQL("os_hidden = %s"))
        params.append(wanted.os_hidden)
    for column, value in wanted.equals.items():
        where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
        params.append(value)
    for column, values in wanted.any_of.items():
        where.append(
            sql.SQL("{} IN ({})").format(
                sql.Identifier(column), sql.SQL(", ").join(sql.Placeholder() * len(values))
            )
        )
        params += values
    for column, operator, value in wanted.ranges:
        where.append(sql.SQL("{} " + operator + " %s").format(sql.Identifier(column)))
        params.append(value)
    for tag in wanted.tags:
        where.append(
            sql.SQL(
                "EXISTS (SELECT 1 FROM {} t WHERE t.image_id = images.id AND t.tag = %s)"
            ).format(sql.Identifier("image_tags"))
        )
        params.append(tag)
    for name, value in wanted.properties.items():
        where.append(
            sql.SQL(
                "EXISTS (SELECT 1 FROM {} p WHERE p.image_id = images.id"
                " AND p.name = %s AND p.value = %s)"
            ).format(sql.Identifier("image_properties"))
        )
        params += [name, value]
    return where, params


def _sort_keys(sort: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Glance always ends the order with created_at and id, so pages are total."""
    keys = list(sort)
    default = sort[0][1] if len(sort) == 1 else "desc"
    for key in ("created_at", "id"):
        if key not in [k for k, _ in keys]:
            keys.append((key, default))
    return keys


def _expr(column: str, dialect: str) -> sql.Composable:
    """The value a column sorts by: NULL as Glance's default, text compared by
    bytes on both databases so pages come out in the same order."""
    if column in NUMERIC:
        return sql.SQL("COALESCE({}, 0)").format(sql.Identifier(column))
    collate = sql.SQL(' COLLATE "C"') if dialect == "postgres" else sql.SQL("")
    return sql.SQL("COALESCE({}, '')").format(sql.Identifier(column)) + collate


def _after(
    keys: list[tuple[str, str]], marker: Row, dialect: str
) -> tuple[sql.Composable, list[Any]]:
    """Rows strictly after the marker in the sort order (a keyset condition)."""
    alternatives: list[sql.Composable] = []
    params: list[Any] = []
    for i, (key, direction) in enumerate(keys):
        terms: list[sql.Composable] = []
        for earlier, _ in keys[:i]:
            terms.append(sql.SQL("{} = %s").format(_expr(earlier, dialect)))
            params.append(_marker_value(marker, earlier))
        operator = "<" if direction == "desc" else ">"
        terms.append(sql.SQL("{} " + operator + " %s").format(_expr(key, dialect)))
        params.append(_marker_value(marker, key))
        alternatives.append(sql.SQL("(") + sql.SQL(" AND ").join(terms) + sql.SQL(")"))
    return sql.SQL("(") + sql.SQL(" OR ").join(alternatives) + sql.SQL(")"), params


def _marker_value(marker: Row, key: str) -> Any:
    value = marker.get(key)
    if value is None:
        return 0 if key in NUMERIC else ""
    return value
