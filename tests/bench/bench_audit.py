"""Audit, time travel and SSE fan-out: the targets of issue 6.

- audit query p50 over 1M indexed events (target <= 20 ms): synthetic rows go
  straight into the audit table in bulk (replaying a million real commands
  would take far longer and measure the write path instead);
- point-in-time state of a resource with 1,000 events (target <= 50 ms);
- 100 SSE subscribers each receiving every event, lag p99 (target <= 100 ms).

`run(workdir, pg_dsn)` measures on SQLite, and on PostgreSQL when a DSN is
given (an empty database of its own). Nothing here asserts anything.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from psycopg import sql

from domain.identity.ids import DEFAULT_DOMAIN_ID
from domain.identity.projects import Project
from infra.database import Database, open_database
from infra.eventstore import EventStore, open_recorder
from infra.settings import Settings
from projections.audit.projection import AUDIT_TABLE
from projections.audit.queries import AuditFilter, AuditQueries, Visibility
from projections.audit.timetravel import state_at
from projections.base import format_time
from tests.bench.stats import summary_ms

META = {"user_id": "bench", "project_id": "bench", "request_id": "", "source": "bench"}
TYPES = [
    f"strata.{s}.{r}.{e}"
    for s in ("identity", "compute", "network")
    for r in ("server", "port", "volume", "user")
    for e in ("created", "updated", "deleted")
]


def _settings(workdir: Path, name: str, pg_dsn: str | None) -> Settings:
    folder = workdir / name
    folder.mkdir(parents=True, exist_ok=True)
    return Settings(data_dir=folder, database_url=pg_dsn or "")


def _rows(count: int, projects: list[str], users: list[str]) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(6)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    resources = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(count // 5)]
    for n in range(1, count + 1):
        resource = resources[rng.randrange(len(resources))]
        project = projects[hash(resource) % len(projects)]
        kind = TYPES[rng.randrange(len(TYPES))]
        yield (
            n,
            format_time(start + timedelta(milliseconds=n * 10)),
            resource,
            kind.split(".")[2],
            kind.split(".")[1],
            kind,
            1 + n % 7,
            users[rng.randrange(len(users))],
            project,
            project,
            f"req-{n // 3}",
            None,
            "10.0.0.1",
        )


def _load(db: Database, count: int, projects: list[str], users: list[str]) -> float:
    """Create the audit table, fill it, then index it (faster than the reverse)."""
    started = time.perf_counter()
    name = AUDIT_TABLE.name
    columns = AUDIT_TABLE.column_names
    with db.transaction() as cur:
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
        cur.execute(AUDIT_TABLE.create_table(name))
    rows = _rows(count, projects, users)
    if db.dialect == "postgres":
        import psycopg

        with psycopg.connect(db.conninfo) as conn, conn.cursor() as raw:  # type: ignore[attr-defined]
            copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(name), sql.SQL(", ").join(map(sql.Identifier, columns))
            )
            with raw.copy(copy) as writer:
                for row in rows:
                    writer.write_row(row)
    else:
        insert = sql.SQL("INSERT INTO {} VALUES ({})").format(
            sql.Identifier(name), sql.SQL(", ").join(sql.Placeholder() * len(columns))
        )
        chunk: list[tuple[Any, ...]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == 50_000:
                with db.transaction() as cur:
                    cur.executemany(insert, chunk)
                chunk = []
        if chunk:
            with db.transaction() as cur:
                cur.executemany(insert, chunk)
    with db.transaction() as cur:
        for statement in AUDIT_TABLE.create_indexes(name):
            cur.execute(statement)
        cur.execute("ANALYZE")
    return time.perf_counter() - started


def audit_queries(settings: Settings, count: int = 1_000_000, samples: int = 200) -> dict[str, Any]:
    db = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
    projects = [uuid.uuid4().hex for _ in range(1000)]
    users = [uuid.uuid4().hex for _ in range(5000)]
    load_seconds = _load(db, count, projects, users)
    queries = AuditQueries(db)
    rng = random.Random(7)
    sample = queries.search(AuditFilter(after=count // 2, limit=samples))
    since = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=count // 200)
    shapes: dict[str, Callable[[int], AuditFilter]] = {
        "resource": lambda i: AuditFilter(resource_id=sample[i]["resource_id"]),
        "project": lambda i: AuditFilter(project_id=rng.choice(projects)),
        "user": lambda i: AuditFilter(user_id=rng.choice(users)),
        "request": lambda i: AuditFilter(request_id=sample[i]["request_id"]),
        "type": lambda i: AuditFilter(event_type=rng.choice(TYPES), after=rng.randrange(count)),
        "project_since": lambda i: AuditFilter(project_id=rng.choice(projects), since=since),
        "tenant": lambda i: AuditFilter(
            visibility=Visibility(rng.choice(projects), rng.choice(users))
        ),
    }
    results: dict[str, Any] = {"events": count, "load_s": round(load_seconds, 1)}
    every: list[float] = []
    for shape, make in shapes.items():
        timings = []
        for i in range(len(sample)):
            wanted = make(i)
            started = time.perf_counter()
            queries.search(wanted)
            timings.append(time.perf_counter() - started)
        every += timings
        results[shape] = summary_ms(timings)
    results["all"] = summary_ms(every)
    db.close()
    return results


def time_travel(settings: Settings, events: int = 1000, samples: int = 50) -> dict[str, Any]:
    store = EventStore(open_recorder(settings))
    project = Project(
        domain_id=DEFAULT_DOMAIN_ID,
        name="busy",
        description="",
        enabled=True,
        parent_id=None,
        tags=[],
        extra={},
    )
    for n in range(events - 1):
        project.update(description=f"d{n}")
        if len(project.pending_events) >= 100:
            store.save([project], META)
    store.save([project], META)
    now = datetime.now(UTC)
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        snapshot = state_at(store, project.id, now)
        timings.append(time.perf_counter() - started)
        assert snapshot is not None and snapshot.version == events
    return {"events": events, **summary_ms(timings)}


def sse_fanout(workdir: Path, subscribers: int = 100, events: int = 50) -> dict[str, Any]:
    from commands.identity.tenancy import UpdateProject
    from tests.integration.test_audit_setup import running_world

    folder = workdir / "sse"
    folder.mkdir(parents=True, exist_ok=True)
    lags: list[float] = []
    with running_world(Settings(data_dir=folder)) as world:
        project = uuid.UUID(world.alice.project_id)
        connected = threading.Event()
        count = [0]

        async def listen(client: httpx.AsyncClient, after: int) -> None:
            headers = {**world.admin.headers, "Accept": "text/event-stream"}
            seen = 0
            async with client.stream(
                "GET", "/v1/events", params={"after": after}, headers=headers
            ) as response:
                count[0] += 1  # one event loop: no lock needed
                if count[0] == subscribers:
                    connected.set()
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        stamp = line.split('"time":"', 1)[1].split('"', 1)[0]
                        sent = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
                        lags.append((datetime.now(UTC) - sent).total_seconds())
                        seen += 1
                        if seen == events:
                            return

        async def all_listeners(after: int) -> None:
            limits = httpx.Limits(max_connections=subscribers + 10)
            async with httpx.AsyncClient(base_url=world.url, timeout=60, limits=limits) as client:
                await asyncio.gather(*(listen(client, after) for _ in range(subscribers)))

        head = world.cloud.store.max_notification_id()
        thread = threading.Thread(target=asyncio.run, args=(all_listeners(head),))
        thread.start()
        connected.wait(60)
        time.sleep(0.2)
        for n in range(events):
            world.cloud.bus.dispatch(
                UpdateProject(project_id=project, description=f"e{n}"), world.admin.ctx()
            )
            time.sleep(0.02)
        thread.join(60)
    return {
        "subscribers": subscribers,
        "events": events,
        "deliveries": len(lags),
        **summary_ms(lags),
        "max_ms": round(max(lags) * 1000, 3) if lags else None,
        "stdev_ms": round(statistics.pstdev(lags) * 1000, 3) if lags else None,
    }


def run(workdir: Path, pg_dsn: str | None, audit_events: int = 1_000_000) -> dict[str, object]:
    """Every measurement of this module; PostgreSQL ones only with a DSN."""
    results: dict[str, object] = {
        "audit_query": {
            "sqlite": audit_queries(_settings(workdir, "audit-sqlite", None), audit_events)
        },
        "time_travel_1000": {"sqlite": time_travel(_settings(workdir, "tt-sqlite", None))},
        "sse_fanout_100": sse_fanout(workdir),
        "targets": {
            "audit_query.all.p50_ms": "<= 20",
            "time_travel_1000.p50_ms": "<= 50",
            "sse_fanout_100.p99_ms": "<= 100",
        },
    }
    if pg_dsn:
        # One empty database serves both: the audit table is dropped first.
        results["audit_query"]["postgres"] = audit_queries(  # type: ignore[index]
            _settings(workdir, "audit-pg", pg_dsn), audit_events
        )
        results["time_travel_1000"]["postgres"] = time_travel(  # type: ignore[index]
            _settings(workdir, "tt-pg", pg_dsn)
        )
    return results


if __name__ == "__main__":
    import json
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        size = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
        dsn = sys.argv[2] if len(sys.argv) > 2 else None
        print(json.dumps(run(Path(tmp), dsn, size), indent=2))
