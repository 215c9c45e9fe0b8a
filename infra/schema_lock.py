"""One process at a time creates tables.

Every Strata process creates the tables it needs on start (`CREATE TABLE IF
NOT EXISTS`). On PostgreSQL two processes doing that at the same moment can
fail with "tuple concurrently updated" (the catalog row is updated by both),
which is what happens when a host's agents and an API start together. A
session advisory lock around the whole setup makes the second wait.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from infra.settings import Settings

# Arbitrary, fixed, and distinct from the relay's lock class.
SCHEMA_LOCK = (0x5354, 0x5343)


@contextmanager
def schema_lock(settings: Settings) -> Iterator[None]:
    if not settings.is_postgres:
        yield  # SQLite serialises DDL itself
        return
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("SELECT pg_advisory_lock(%s, %s)"), SCHEMA_LOCK)
        try:
            yield
        finally:
            conn.execute(sql.SQL("SELECT pg_advisory_unlock(%s, %s)"), SCHEMA_LOCK)
