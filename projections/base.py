"""What a projection is: tables it owns, and handlers that turn events into rows.

A projection never reads the clock or draws random numbers: replaying the same
log must give the same rows. Its tables are addressed through `self.table()`,
so the same code can fill the live tables or a fresh set during a rebuild.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.utils import get_topic
from psycopg import sql

from infra.database import Cursor

E = TypeVar("E")
Handler = Callable[[Any, Cursor, Any], None]


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]
    primary_key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def create_table(self, physical: str) -> sql.Composable:
        columns = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind))
            for name, kind in self.columns
        )
        return sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}))").format(
            sql.Identifier(physical),
            columns,
            sql.SQL(", ").join(map(sql.Identifier, self.primary_key)),
        )

    def create_indexes(self, physical: str) -> list[sql.Composable]:
        return [
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                sql.Identifier(f"{physical}_{'_'.join(cols)}_idx"),
                sql.Identifier(physical),
                sql.SQL(", ").join(map(sql.Identifier, cols)),
            )
            for cols in self.indexes
        ]


def handles(event_class: type[Any]) -> Callable[[Handler], Handler]:
    """Mark a method as the handler of one event class."""

    def mark(method: Handler) -> Handler:
        method.__handles__ = event_class  # type: ignore[attr-defined]
        return method

    return mark


class Projection:
    name: ClassVar[str]
    tables: ClassVar[tuple[Table, ...]]
    _handlers: ClassVar[dict[type[Any], Handler]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handlers = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                event_class = getattr(attr, "__handles__", None)
                if event_class is not None:
                    cls._handlers[event_class] = attr

    def __init__(self, physical_names: Mapping[str, str] | None = None) -> None:
        self.physical_names = dict(physical_names or {t.name: t.name for t in self.tables})

    def table(self, logical: str) -> sql.Identifier:
        return sql.Identifier(self.physical_names[logical])

    def topics(self) -> list[str]:
        return sorted(get_topic(cls) for cls in self._handlers)

    def apply(self, cursor: Cursor, event: Any) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(self, cursor, event)

    # Small statement helpers, so handlers say what changes, not how.

    def upsert(self, cursor: Cursor, logical: str, row: Mapping[str, Any]) -> None:
        spec = self.spec(logical)
        statement = _upsert_sql(self.physical_names[logical], tuple(row), spec.primary_key)
        cursor.execute(statement, [to_column(v) for v in row.values()])

    def update(
        self,
        cursor: Cursor,
        logical: str,
        changes: Mapping[str, Any],
        where: Mapping[str, Any],
    ) -> None:
        if not changes:
            return
        statement = _update_sql(self.physical_names[logical], tuple(changes), tuple(where))
        cursor.execute(
            statement,
            [to_column(v) for v in changes.values()] + [to_column(v) for v in where.values()],
        )

    def delete(self, cursor: Cursor, logical: str, where: Mapping[str, Any]) -> None:
        statement = _delete_sql(self.physical_names[logical], tuple(where))
        cursor.execute(statement, [to_column(v) for v in where.values()])

    def spec(self, logical: str) -> Table:
        for table in self.tables:
            if table.name == logical:
                return table
        raise KeyError(logical)


# Statements are composed with psycopg.sql once per shape and kept as text:
# replaying a log runs the same few shapes hundreds of thousands of times.


@functools.lru_cache(maxsize=4096)
def _upsert_sql(table: str, names: tuple[str, ...], primary_key: tuple[str, ...]) -> str:
    updates = [n for n in names if n not in primary_key]
    action = (
        sql.SQL("DO UPDATE SET {}").format(
            sql.SQL(", ").join(
                sql.SQL("{0} = excluded.{0}").format(sql.Identifier(n)) for n in updates
            )
        )
        if updates
        else sql.SQL("DO NOTHING")
    )
    return (
        sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) {}")
        .format(
            sql.Identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, names)),
            sql.SQL(", ").join(sql.Placeholder() * len(names)),
            sql.SQL(", ").join(map(sql.Identifier, primary_key)),
            action,
        )
        .as_string(None)
    )


@functools.lru_cache(maxsize=4096)
def _update_sql(table: str, changed: tuple[str, ...], where: tuple[str, ...]) -> str:
    return (
        sql.SQL("UPDATE {} SET {} WHERE {}")
        .format(
            sql.Identifier(table),
            sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(n)) for n in changed),
            _conditions(where),
        )
        .as_string(None)
    )


@functools.lru_cache(maxsize=4096)
def _delete_sql(table: str, where: tuple[str, ...]) -> str:
    return (
        sql.SQL("DELETE FROM {} WHERE {}")
        .format(sql.Identifier(table), _conditions(where))
        .as_string(None)
    )


def _conditions(where: Sequence[str]) -> sql.Composable:
    return sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(n)) for n in where)


_PLAIN = frozenset({str, int, float, bool, type(None)})


def to_column(value: Any) -> Any:
    """Python values as both backends store them: JSON for structures,
    ISO-8601 for times, hex for UUIDs."""
    kind = type(value)
    if kind in _PLAIN:  # most columns: checked first, as replay calls this per column
        return value
    if kind is UUID:
        return value.hex
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, dict | list | tuple):
        if not value:
            return "{}" if kind is dict else "[]"
        return json.dumps(value, sort_keys=True, default=_json_default)
    return value


def format_time(value: datetime) -> str:
    """One fixed, sortable spelling, so times compare correctly as text:
    `2026-11-21T02:21:59.718517Z` (isoformat is several times faster than
    strftime, and replay formats two times per row)."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def _json_default(value: Any) -> Any:
    if isinstance(value, UUID):
        return value.hex
    if isinstance(value, datetime):
        return format_time(value)
    raise TypeError(f"Cannot store {type(value).__name__} in a read model")


def from_json(value: Any, default: Any = None) -> Any:
    if value is None or value == "":
        return default
    return json.loads(value)


def all_topics(projections: Sequence[Projection]) -> list[str]:
    return sorted({t for p in projections for t in p.topics()})
