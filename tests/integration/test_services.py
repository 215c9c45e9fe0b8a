"""Self-tests for the service helpers every integration test relies on.

They exercise both code paths of :mod:`tests.support.services` on any
machine: reusing a running server and starting a throwaway one (forced
with ``prefer_running=False`` or the explicit ``start_*`` helpers), so a
developer with PostgreSQL/NATS already running still tests what a fresh
CI machine will do.  asyncio is driven with ``asyncio.run`` so these tests
do not need pytest-asyncio.
"""

from __future__ import annotations

import asyncio
import socket
import uuid

import nats
import psycopg
import pytest
from nats.js.api import StreamConfig
from psycopg.conninfo import conninfo_to_dict

from tests.support.services import (
    database_name,
    drop_database,
    fresh_database,
    nats_url,
    postgres_dsn,
    start_nats_server,
    start_postgres_server,
)


def _port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _accepts_tcp(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.postgres
def test_pg_dsn_gives_a_private_writable_database(pg_dsn: str, pg_admin_dsn: str) -> None:
    assert database_name(pg_dsn) != database_name(pg_admin_dsn)
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, body text NOT NULL)")
        conn.execute("INSERT INTO t VALUES (1, 'hello')")
        row = conn.execute("SELECT body FROM t WHERE id = 1").fetchone()
        assert row == ("hello",)
        encoding = conn.execute("SHOW server_encoding").fetchone()
        assert encoding == ("UTF8",)


@pytest.mark.postgres
def test_fresh_and_drop_database_round_trip(pg_admin_dsn: str) -> None:
    dsn = fresh_database(pg_admin_dsn, "Weird-Prefix; DROP TABLE x")
    name = database_name(dsn)
    assert name.startswith("weird_prefix_drop_table_x_")
    # A leaked connection must not stop the drop (WITH (FORCE)).
    leaked = psycopg.connect(dsn)
    try:
        drop_database(pg_admin_dsn, name)
    finally:
        leaked.close()
    with psycopg.connect(pg_admin_dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
    assert row == (0,)
    drop_database(pg_admin_dsn, name)  # idempotent


@pytest.mark.postgres
def test_forced_fallback_starts_a_throwaway_cluster() -> None:
    dsn = postgres_dsn(prefer_running=False)
    assert conninfo_to_dict(dsn)["port"] != "5432"
    assert postgres_dsn(prefer_running=False) == dsn  # cached per process
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT current_user").fetchone()
    assert row == ("postgres",)


@pytest.mark.postgres
def test_throwaway_postgres_starts_and_stops() -> None:
    server = start_postgres_server()
    try:
        assert server.is_running
        assert server.port != 5432
        db = fresh_database(server.dsn, "selftest")
        with psycopg.connect(db) as conn:
            conn.execute("CREATE TABLE t (x int)")
    finally:
        server.stop()
    assert not server.is_running
    assert not server.root.exists()
    assert not _accepts_tcp(server.port)
    server.stop()  # idempotent


async def _account_info(url: str) -> int:
    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        info = await nc.jetstream().account_info()
        return info.streams
    finally:
        await nc.close()


@pytest.mark.nats
def test_nats_url_speaks_jetstream(nats_server_url: str) -> None:
    assert nats_url() == nats_server_url
    assert asyncio.run(_account_info(nats_server_url)) >= 0


@pytest.mark.nats
def test_forced_nats_fallback_speaks_jetstream() -> None:
    url = nats_url(prefer_running=False)
    assert _port_of(url) != 4222
    assert asyncio.run(_account_info(url)) >= 0


async def _add_stream(url: str, name: str) -> None:
    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=name, subjects=[f"{name}.>"]))
        await js.publish(f"{name}.created", b"{}")
    finally:
        await nc.close()


async def _stream_messages(url: str, name: str) -> int:
    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        info = await nc.jetstream().stream_info(name)
        return info.state.messages
    finally:
        await nc.close()


@pytest.mark.nats
def test_throwaway_nats_restarts_with_its_store_and_stops() -> None:
    server = start_nats_server()
    try:
        stream = f"SELFTEST_{uuid.uuid4().hex[:8].upper()}"
        asyncio.run(_add_stream(server.url, stream))
        server.kill()
        assert not _accepts_tcp(server.port)
        server.restart()
        assert asyncio.run(_stream_messages(server.url, stream)) == 1
    finally:
        server.stop()
    assert not server.is_running
    assert not server.root.exists()
    assert not _accepts_tcp(server.port)
