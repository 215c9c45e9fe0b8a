"""The relay against a real JetStream, on SQLite and on PostgreSQL.

The contract: every event of the log reaches the stream exactly once and in
notification order, whatever happens to the relay in between, and only one
relay publishes at a time. Relays run in threads through `run_forever`, as
`strata up` runs them. The server is private to this module (started once)
because every test's stream captures the same `strata.events.>` subjects,
which JetStream allows for only one stream at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import psycopg
import pytest

from domain.identity.roles import Role
from infra.database import Database, open_database
from infra.eventstore import EventStore, open_recorder
from infra.nats_bus import STREAM_SUBJECTS, NatsBus, OutgoingMessage, ensure_stream
from infra.settings import Settings
from tests.support.nats_streams import private_nats_server, throwaway_stream
from tests.support.services import NatsProcess, ServiceUnavailableError, start_nats_server
from workers.relay import Relay, lock_key

META = {
    "user_id": "tester",
    "project_id": "p",
    "request_id": "req",
    "source": "test",
    "idempotency_key": None,
}
FAST = 0.05  # relay interval and lock retry: keeps the tests quick
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]

pytestmark = pytest.mark.nats


class SimulatedCrashError(BaseException):
    """Not an Exception, so the relay's retry loop does not absorb it."""


@pytest.fixture(scope="module")
def nats_server() -> Iterator[NatsProcess]:
    with private_nats_server() as server:
        yield server


@pytest.fixture
def stream(nats_server: NatsProcess) -> Iterator[str]:
    with throwaway_stream(nats_server.url, "RELAY") as name:
        yield name


@dataclass
class Env:
    settings: Settings
    store: EventStore
    db: Database
    nats_url: str
    stream: str
    relays: list[tuple[Relay, threading.Thread, threading.Event]] = field(default_factory=list)

    def append_roles(self, count: int, per_save: int = 10) -> list[int]:
        ids: list[int] = []
        for start in range(0, count, per_save):
            roles = [
                Role(name=f"role-{uuid.uuid4().hex[:8]}", domain_id=None, description="")
                for _ in range(min(per_save, count - start))
            ]
            ids.extend(self.store.save(roles, META))
        return ids

    def relay(self, cls: type[Relay] = Relay, **options: Any) -> Relay:
        options.setdefault("interval", FAST)
        options.setdefault("lock_retry", FAST)
        bus = options.pop("bus", None) or NatsBus(self.nats_url, self.stream)
        return cls(self.store, self.db, bus, **options)

    def start(self, relay: Relay) -> tuple[threading.Thread, threading.Event]:
        """Run `relay` in a thread; a simulated crash just ends the thread."""
        stop = threading.Event()

        def target() -> None:
            with contextlib.suppress(SimulatedCrashError):
                relay.run_forever(stop)

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self.relays.append((relay, thread, stop))
        return thread, stop

    def stop_all(self) -> None:
        for _, _, stop in self.relays:
            stop.set()
        for _, thread, _ in self.relays:
            thread.join(10)
            assert not thread.is_alive()


@pytest.fixture(params=BACKENDS)
def env(
    request: pytest.FixtureRequest, tmp_path: Path, nats_server: NatsProcess, stream: str
) -> Iterator[Env]:
    if request.param == "postgres":
        settings = Settings(data_dir=tmp_path, database_url=request.getfixturevalue("pg_dsn"))
    else:
        settings = Settings(
            data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'strata.sqlite3'}"
        )
    recorder = open_recorder(settings)
    db = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
    environment = Env(settings, EventStore(recorder), db, nats_server.url, stream)
    try:
        yield environment
    finally:
        environment.stop_all()
        db.close()
        recorder.datastore.close()  # type: ignore[attr-defined]


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@dataclass(frozen=True)
class Received:
    subject: str
    msg_id: str
    envelope: dict[str, Any]


def consume(env: Env, expected: int, durable: str = "checker") -> list[Received]:
    """What a durable consumer gets (acking it), until `expected` messages
    arrived or none came for a while; extras show in the stream's count."""

    async def read() -> list[Received]:
        nc = await nats.connect(env.nats_url)
        try:
            js = nc.jetstream()
            sub = await js.pull_subscribe(STREAM_SUBJECTS, durable=durable, stream=env.stream)
            received: list[Received] = []
            while len(received) < expected:
                try:
                    batch = await sub.fetch(200, timeout=2.0)
                except TimeoutError:  # nats-py raises its own or asyncio's
                    break
                for msg in batch:
                    headers = msg.headers or {}
                    received.append(
                        Received(msg.subject, headers["Nats-Msg-Id"], json.loads(msg.data))
                    )
                    await msg.ack()
            return received
        finally:
            await nc.close()

    return asyncio.run(read())


async def create_stream(env: Env) -> None:
    nc = await nats.connect(env.nats_url)
    try:
        await ensure_stream(nc.jetstream(), env.stream)
    finally:
        await nc.close()


def stream_message_count(env: Env) -> int:
    async def count() -> int:
        nc = await nats.connect(env.nats_url)
        try:
            info = await nc.jetstream().stream_info(env.stream)
            return int(info.state.messages)
        finally:
            await nc.close()

    return asyncio.run(count())


def assert_exactly_once_in_order(env: Env, expected_ids: Sequence[int]) -> None:
    received = consume(env, len(expected_ids))
    ids = [r.envelope["stratanotificationid"] for r in received]
    assert ids == list(expected_ids)
    assert [r.msg_id for r in received] == [str(i) for i in expected_ids]
    assert stream_message_count(env) == len(expected_ids)


def test_every_event_reaches_a_durable_consumer_in_order(env: Env) -> None:
    # The subscriber exists before anything is published.
    asyncio.run(create_stream(env))
    assert consume(env, 0) == []
    role = Role(name="admin", domain_id=None, description="")
    role.update(description="all powers")
    other = Role(name="reader", domain_id=None, description="")
    ids = env.store.save([role, other], META)
    role.delete()
    ids += env.store.save([role], META)

    relay = env.relay()
    env.start(relay)
    wait_until(lambda: relay.position == ids[-1])

    received = consume(env, len(ids))
    assert [r.envelope["stratanotificationid"] for r in received] == ids
    assert [r.subject for r in received] == [
        "strata.events.identity.role.created",
        "strata.events.identity.role.updated",
        "strata.events.identity.role.created",
        "strata.events.identity.role.deleted",
    ]
    first = received[0]
    assert first.msg_id == str(ids[0])
    assert first.envelope["specversion"] == "1.0"
    assert first.envelope["id"] == str(ids[0])
    assert first.envelope["type"] == "strata.identity.role.created"
    assert first.envelope["subject"] == role.id.hex
    assert first.envelope["strataversion"] == 1
    assert first.envelope["stratameta"] == META
    assert first.envelope["data"]["name"] == "admin"
    assert received[1].envelope["data"]["changes"] == {"description": "all powers"}
    assert received[3].envelope["strataversion"] == 3
    assert relay.recorded_position() == ids[-1]
    assert len(relay.lag_samples) == len(ids)


def test_new_events_are_published_without_waiting_for_the_interval(env: Env) -> None:
    relay = env.relay(interval=30.0)
    env.start(relay)
    first = env.append_roles(1)
    relay.poke()
    wait_until(lambda: relay.position == first[-1], timeout=5)
    # On PostgreSQL the table's NOTIFY wakes the relay even with no poke.
    if env.settings.is_postgres:
        second = env.append_roles(1)
        wait_until(lambda: relay.position == second[-1], timeout=5)


class CrashAfterPublishing(Relay):
    """Dies once `crash_after` events are published but not yet recorded:
    the worst moment, as a restart must republish them."""

    crash_after = 150

    def record_position(self, position: int) -> None:
        if self.published >= self.crash_after:
            raise SimulatedCrashError
        super().record_position(position)


class CrashingBus(NatsBus):
    """Sends part of a batch, then dies before any ack is processed."""

    def __init__(self, *args: Any, crash_after: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.remaining = crash_after

    async def publish_many(self, messages: Sequence[OutgoingMessage]) -> list[int]:
        if len(messages) < self.remaining:
            self.remaining -= len(messages)
            return await super().publish_many(messages)
        for message in messages[: self.remaining]:
            js = self.js
            await js.publish_async(
                message.subject, message.payload, headers={"Nats-Msg-Id": message.msg_id}
            )
        await asyncio.sleep(0.1)  # let the server store them
        raise SimulatedCrashError


@pytest.mark.parametrize("crash", ["after_ack", "mid_batch"])
@pytest.mark.parametrize("resume_from_bus", [True, False], ids=["tail", "dedup"])
def test_a_crashed_relay_restarts_without_loss_or_duplicates(
    env: Env, crash: str, resume_from_bus: bool
) -> None:
    """With `resume_from_bus` off only JetStream's deduplication prevents
    duplicates; with it on the restarted relay skips what the stream has."""
    ids = env.append_roles(300)
    if crash == "after_ack":
        crashing = env.relay(CrashAfterPublishing, batch=50)
    else:
        bus = CrashingBus(env.nats_url, env.stream, crash_after=125)
        crashing = env.relay(batch=50, bus=bus)
    thread, _ = env.start(crashing)
    thread.join(10)
    assert not thread.is_alive(), "the relay should have crashed"
    assert 0 < crashing.recorded_position() < ids[-1]
    published_before_restart = stream_message_count(env)
    assert published_before_restart > crashing.recorded_position() - ids[0] + 1

    ids += env.append_roles(100)
    relay = env.relay(batch=50, resume_from_bus=resume_from_bus)
    env.start(relay)
    wait_until(lambda: relay.position == ids[-1])

    assert_exactly_once_in_order(env, ids)
    republished = relay.published - (len(ids) - published_before_restart)
    if resume_from_bus:
        assert republished == 0
    else:
        assert republished > 0  # and JetStream absorbed them


def test_only_one_relay_leads_and_another_takes_over(env: Env) -> None:
    first, second = env.relay(), env.relay()
    env.start(first)
    wait_until(lambda: first.is_leader)
    _, stop_second = env.start(second)
    ids = env.append_roles(20)
    first.poke()
    wait_until(lambda: first.position == ids[-1])
    time.sleep(5 * FAST)
    assert not second.is_leader
    assert second.published == 0
    if env.settings.is_postgres:
        assert advisory_lock_holders(env) == 1

    first_thread, first_stop = env.relays[0][1:]
    first_stop.set()
    first_thread.join(10)
    wait_until(lambda: second.is_leader)
    ids += env.append_roles(20)
    second.poke()
    wait_until(lambda: second.position == ids[-1])
    assert second.published == 20
    assert_exactly_once_in_order(env, ids)
    stop_second.set()


def advisory_lock_holders(env: Env, terminate: bool = False) -> int:
    class_id, object_id = lock_key("relay")
    with psycopg.connect(env.settings.database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database"
            "                 WHERE datname = current_database())"
            " AND classid = (%s::bigint & 4294967295)::oid"
            " AND objid = (%s::bigint & 4294967295)::oid AND objsubid = 2",
            (class_id, object_id),
        ).fetchall()
        if terminate:
            for (pid,) in rows:
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    return len(rows)


@pytest.mark.postgres
def test_a_leader_that_loses_its_lock_connection_steps_down(
    tmp_path: Path, pg_dsn: str, nats_server: NatsProcess, stream: str
) -> None:
    settings = Settings(data_dir=tmp_path, database_url=pg_dsn)
    recorder = open_recorder(settings)
    db = open_database(settings.database_url, settings.sqlite_path, True)
    env = Env(settings, EventStore(recorder), db, nats_server.url, stream)
    try:
        relays = [env.relay(), env.relay()]
        for relay in relays:
            env.start(relay)
        wait_until(lambda: any(r.is_leader for r in relays))
        ids = env.append_roles(10)
        wait_until(lambda: max(r.position for r in relays) == ids[-1])

        assert advisory_lock_holders(env, terminate=True) == 1
        wait_until(lambda: not all(r.is_leader for r in relays))
        wait_until(lambda: advisory_lock_holders(env) == 1)
        wait_until(lambda: sum(r.is_leader for r in relays) == 1)
        ids += env.append_roles(10)
        wait_until(lambda: max(r.position for r in relays) == ids[-1])
        assert_exactly_once_in_order(env, ids)
    finally:
        env.stop_all()
        db.close()
        recorder.datastore.close()  # type: ignore[attr-defined]


def test_nats_crash_and_restart_loses_and_duplicates_nothing(tmp_path: Path, stream: str) -> None:
    try:
        server = start_nats_server()
    except ServiceUnavailableError as exc:
        pytest.skip(f"nats-server unavailable: {exc}")
    settings = Settings(data_dir=tmp_path)
    recorder = open_recorder(settings)
    db = open_database(settings.database_url, settings.sqlite_path, False)
    env = Env(settings, EventStore(recorder), db, server.url, "STRATA")
    try:
        relay = env.relay(batch=20)
        env.start(relay)
        ids = env.append_roles(100, per_save=5)
        wait_until(lambda: relay.position > 0)
        server.kill()
        ids += env.append_roles(100, per_save=5)  # written while NATS is down
        relay.poke()
        time.sleep(0.3)
        server.restart()
        ids += env.append_roles(100, per_save=5)
        wait_until(lambda: relay.position == ids[-1], timeout=20)
        assert_exactly_once_in_order(env, ids)
    finally:
        env.stop_all()
        db.close()
        recorder.datastore.close()  # type: ignore[attr-defined]
        server.stop()
