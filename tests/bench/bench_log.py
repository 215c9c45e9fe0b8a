"""The event log: appends/s through group commit, replay events/s, relay lag."""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.identity.projects import Project
from infra.database import open_database
from infra.eventstore import EventStore, open_recorder
from infra.nats_bus import NatsBus
from infra.nats_server import find_nats_server, start_nats_server
from infra.settings import Settings
from projections.identity.projection import IdentityProjection
from projections.runner import ProjectionRunner
from tests.bench.stats import summary_ms
from workers.relay import Relay

META = {"user_id": "bench", "project_id": "bench", "request_id": "", "source": "bench"}


class Reading(Aggregate):
    """A one-event aggregate: what a typical command appends, without a handler."""

    class Created(Aggregate.Created):
        value: int

    @event(Created)
    def __init__(self, value: int) -> None:
        self.value = value


def appends(settings: Settings, writers: int = 8, seconds: float = 5.0) -> dict[str, Any]:
    """Events/s when `writers` threads each save one new aggregate per call."""
    store = EventStore(open_recorder(settings))
    stop = time.monotonic() + seconds
    counts = [0] * writers

    def write(slot: int) -> None:
        n = 0
        while time.monotonic() < stop:
            store.save([Reading(value=n)], META)
            n += 1
        counts[slot] = n

    started = time.perf_counter()
    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    stats = store.committer.stats
    return {
        "writers": writers,
        "events": sum(counts),
        "events_per_s": round(sum(counts) / elapsed),
        "transactions": stats.transactions,
        "events_per_transaction": round(sum(counts) / max(1, stats.transactions), 1),
    }


def replay(settings: Settings, projects: int = 60_000) -> dict[str, Any]:
    """Rebuild the identity read model from `projects` Project.Created events."""
    store = EventStore(open_recorder(settings))
    db = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
    runner = ProjectionRunner(db, store, [IdentityProjection()])
    runner.setup()
    domain_id = uuid.uuid4()
    for start in range(0, projects, 1000):
        batch = [
            Project(domain_id, f"p{n}", "", True, None, [], {})
            for n in range(start, min(projects, start + 1000))
        ]
        store.save(batch, META)
    cpu = time.process_time()
    report = runner.rebuild("identity")
    cpu = time.process_time() - cpu
    db.close()
    return {
        "events": report.events,
        "seconds": round(report.seconds, 3),
        "events_per_s": round(report.events / report.seconds),
        # The replaying process's CPU per event (both its threads; not the
        # database server's): steadier than events/s on a busy machine.
        "cpu_us_per_event": round(cpu / report.events * 1e6, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def relay_lag(
    settings: Settings, workdir: Path, rate: int = 1000, seconds: float = 5.0
) -> dict[str, Any]:
    """Commit-to-ack lag of the relay on a private nats-server, at `rate` events/s."""
    binary = find_nats_server()
    if binary is None:
        return {"skipped": "nats-server is not installed"}
    server = start_nats_server(binary, workdir / "nats")
    store = EventStore(open_recorder(settings))
    db = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
    start_position = store.max_notification_id()
    relay = Relay(store, db, NatsBus(server.url, "BENCH"), "bench-relay", interval=1.0)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while relay.position < start_position and time.monotonic() < deadline:
            time.sleep(0.05)
        relay.lag_samples.clear()
        per_tick, tick = max(1, rate // 100), 0.01
        next_tick = time.monotonic()
        end = next_tick + seconds
        written = 0
        while next_tick < end:
            store.save([Reading(value=n) for n in range(per_tick)], META)
            relay.poke()  # what a writer in the same process does after a commit
            written += per_tick
            next_tick += tick
            time.sleep(max(0.0, next_tick - time.monotonic()))
        head = store.max_notification_id()
        deadline = time.monotonic() + 30
        while relay.position < head and time.monotonic() < deadline:
            time.sleep(0.01)
        samples = list(relay.lag_samples)
    finally:
        stop.set()
        thread.join(timeout=10)
        server.stop()
        db.close()
    return {"rate_per_s": rate, "events": written, **summary_ms(samples)}
