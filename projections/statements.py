"""The write statements of projection helpers, composed once per shape.

Statements are composed with psycopg.sql once per shape and kept as text:
replaying a log runs the same few shapes hundreds of thousands of times.
Every upsert shape is also remembered by its text, so that a batching cursor
holding a run of the same upsert can send the run as one multi-row INSERT.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import sql


@dataclass(frozen=True)
class UpsertShape:
    table: str
    names: tuple[str, ...]
    primary_key: tuple[str, ...]
    # Each column's type where all are plain types PostgreSQL can cast text
    # to (then rows travel as JSON arrays, smaller than objects); else None.
    kinds: tuple[str, ...] | None = None

    @property
    def key_positions(self) -> tuple[int, ...]:
        return tuple(self.names.index(k) for k in self.primary_key)


_SHAPES: dict[str, UpsertShape] = {}
_KINDS: dict[str, dict[str, str]] = {}
_CASTABLE = frozenset({"TEXT", "BOOLEAN", "BIGINT", "INTEGER", "SMALLINT", "REAL"})


def register_columns(table: str, columns: Sequence[tuple[str, str]]) -> None:
    """Declare a table's column types (projections do, for each table they fill)."""
    _KINDS[table] = dict(columns)


def upsert_shape(statement: str) -> UpsertShape | None:
    """The shape of a statement `upsert_sql` composed, or None."""
    return _SHAPES.get(statement)


@functools.lru_cache(maxsize=4096)
def upsert_sql(table: str, names: tuple[str, ...], primary_key: tuple[str, ...]) -> str:
    declared = _KINDS.get(table, {})
    kinds = tuple(declared.get(n, "").upper() for n in names)
    castable = all(k in _CASTABLE for k in kinds)
    shape = UpsertShape(table, names, primary_key, kinds if castable else None)
    text = upsert_rows_sql(shape, 1)
    _SHAPES[text] = shape
    return text


@functools.lru_cache(maxsize=1024)
def upsert_rows_sql(shape: UpsertShape, rows: int) -> str:
    """INSERT of `rows` rows that updates every non-key column on a key conflict.

    With distinct keys this does what the same number of one-row upserts
    does in order; a repeated key is not allowed (PostgreSQL refuses to
    update one row twice in a statement), so callers check.
    """
    placeholders = sql.SQL(", ").join(sql.Placeholder() * len(shape.names))
    # One row's text, composed once: rendering a thousand rows' placeholders
    # one by one took a rebuild's first pages tens of milliseconds per shape.
    row = sql.SQL(sql.SQL("({})").format(placeholders).as_string(None))
    return (
        sql.SQL("INSERT INTO {} ({}) VALUES {} ON CONFLICT ({}) {}")
        .format(
            sql.Identifier(shape.table),
            sql.SQL(", ").join(map(sql.Identifier, shape.names)),
            sql.SQL(", ").join([row] * rows),
            sql.SQL(", ").join(map(sql.Identifier, shape.primary_key)),
            _conflict_action(shape),
        )
        .as_string(None)
    )


@functools.lru_cache(maxsize=1024)
def upsert_json_sql(shape: UpsertShape, on_conflict: bool = True) -> str:
    """The same upsert for PostgreSQL, its rows in one JSON parameter.

    PostgreSQL takes at most 65,535 parameters and psycopg parses a long
    statement's placeholders anew each time it runs; one JSON parameter
    keeps the statement short (prepared once). The server reads each value
    as text and converts it to its column's type, as it does a parameter.
    Rows are JSON arrays when the shape knows its column types (cast
    explicitly), objects read by the table's own row type otherwise.
    Without `on_conflict` it is a plain INSERT, which fails on an existing key.
    """
    table = sql.Identifier(shape.table)
    values: sql.Composable
    source: sql.Composable
    if shape.kinds is not None:
        values = sql.SQL(", ").join(
            sql.SQL("(r ->> {})::{}").format(sql.Literal(i), sql.SQL(kind))
            for i, kind in enumerate(shape.kinds)
        )
        # jsonb: parsed once, where each `->>` on json would parse the row again
        source = sql.SQL("jsonb_array_elements(%s::jsonb) AS r")
    else:
        values = sql.SQL(", ").join(map(sql.Identifier, shape.names))
        source = sql.SQL("json_populate_recordset(NULL::{}, %s::json)").format(table)
    return (
        sql.SQL("INSERT INTO {table} ({columns}) SELECT {values} FROM {source}{conflict}")
        .format(
            table=table,
            columns=sql.SQL(", ").join(map(sql.Identifier, shape.names)),
            values=values,
            source=source,
            conflict=sql.SQL(" ON CONFLICT ({key}) {action}").format(
                key=sql.SQL(", ").join(map(sql.Identifier, shape.primary_key)),
                action=_conflict_action(shape),
            )
            if on_conflict
            else sql.SQL(""),
        )
        .as_string(None)
    )


def _conflict_action(shape: UpsertShape) -> sql.Composable:
    updates = [n for n in shape.names if n not in shape.primary_key]
    if not updates:
        return sql.SQL("DO NOTHING")
    return sql.SQL("DO UPDATE SET {}").format(
        sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(sql.Identifier(n)) for n in updates)
    )


@functools.lru_cache(maxsize=4096)
def update_sql(table: str, changed: tuple[str, ...], where: tuple[str, ...]) -> str:
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
def delete_sql(table: str, where: tuple[str, ...]) -> str:
    return (
        sql.SQL("DELETE FROM {} WHERE {}")
        .format(sql.Identifier(table), _conditions(where))
        .as_string(None)
    )


def _conditions(where: Sequence[str]) -> sql.Composable:
    return sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(n)) for n in where)
