"""The relay: tails the event log and publishes every event to the bus.

Nothing is lost: the position (the last notification id known to be stored
by the bus) is recorded only after the bus acknowledged everything up to it,
so a crash at any point leads to republishing, never to skipping.

Nothing is duplicated: each event is published with its notification id as
message id, which the bus deduplicates within its window (two minutes), and
a relay that starts again resumes after the bus's last stored message when
that message is verifiably this log's event, which covers longer outages.

Only one relay publishes: it must hold a lock first (a PostgreSQL advisory
lock held by a dedicated connection, or an flock on a file next to the
SQLite database); the others wait and retry, ready to take over.

It wakes on `poke()` from in-process writers, on PostgreSQL's NOTIFY from
the events table, and every `interval` seconds to catch up regardless
(SQLite has no cross-process notification at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol

import psycopg
from eventsourcing.persistence import Notification
from psycopg import sql
from psycopg.rows import TupleRow

from infra.database import Database, PostgresDatabase, SQLiteDatabase
from infra.envelope import DEFAULT_SOURCE, encode, id_hex
from infra.eventstore import EventStore
from infra.nats_bus import (
    EventBus,
    InProcessBus,
    NatsBus,
    OutgoingMessage,
    PublishedMessage,
    PublishFailedError,
)
from infra.settings import Settings

log = logging.getLogger(__name__)

POSITIONS_TABLE = sql.Identifier("relay_positions")
# First key of the two-key advisory lock: a fixed namespace ("STRA") so the
# relay cannot collide with other users of advisory locks; the second key
# comes from the relay's name, as each name has its own position.
RELAY_LOCK_CLASS = 0x53545241
# How often the thread wrapper looks at its threading.Event.
_STOP_POLL_SECONDS = 0.05
_MAX_BACKOFF_SECONDS = 30.0
# How long the relay lets commits gather after a pass: under a stream of
# commits each pokes it, and a pass per commit costs a read and a position
# write each; gathered, one pass covers many. A lone commit after a quiet
# while is published at once.
GATHER_SECONDS = 0.02


class Leadership(Protocol):
    async def try_acquire(self, wake: Callable[[], None]) -> bool:
        """Take the lock if free; `wake` is called on news or on loss."""

    @property
    def held(self) -> bool: ...

    async def release(self) -> None: ...


class FileLeadership:
    """An exclusive flock; the kernel drops it when the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    async def try_acquire(self, wake: Callable[[], None]) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            # flock (unlike fcntl's POSIX locks) belongs to the open file,
            # so two relays in one process also exclude each other.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    @property
    def held(self) -> bool:
        return self._fd is not None

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def lock_key(name: str) -> tuple[int, int]:
    """The advisory lock's two int4 keys for a relay name."""
    crc = zlib.crc32(name.encode("utf-8"))
    return RELAY_LOCK_CLASS, crc - 2**32 if crc >= 2**31 else crc


class PostgresLeadership:
    """A session advisory lock on a connection held for the leader's term.

    The same connection LISTENs to the event table's channel: its listener
    both wakes the relay on new events and notices when the connection
    (and with it the lock) is gone, so a leader that lost its lock stops.
    """

    def __init__(self, conninfo: str, name: str, channel: str | None) -> None:
        self.conninfo = conninfo
        self.key = lock_key(name)
        self.channel = channel
        self._conn: psycopg.AsyncConnection[TupleRow] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._lost = False

    async def try_acquire(self, wake: Callable[[], None]) -> bool:
        if self.held:
            return True
        await self.release()
        conn = await psycopg.AsyncConnection.connect(
            self.conninfo,
            autocommit=True,
            # Notice a dead peer within seconds rather than the OS's hours.
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
        )
        try:
            cursor = await conn.execute(sql.SQL("SELECT pg_try_advisory_lock(%s, %s)"), self.key)
            row = await cursor.fetchone()
            if not row or row[0] is not True:
                await conn.close()
                return False
            if self.channel:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        except BaseException:
            await conn.close()
            raise
        self._conn, self._lost = conn, False
        self._listener = asyncio.create_task(self._listen(conn, wake))
        return True

    async def _listen(
        self, conn: psycopg.AsyncConnection[TupleRow], wake: Callable[[], None]
    ) -> None:
        try:
            async for _ in conn.notifies():
                wake()
        except (psycopg.Error, OSError) as exc:
            log.warning("relay lost its PostgreSQL lock connection: %s", exc)
        self._lost = True
        wake()

    @property
    def held(self) -> bool:
        return self._conn is not None and not self._lost

    async def release(self) -> None:
        listener, self._listener = self._listener, None
        conn, self._conn = self._conn, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        if conn is not None:
            # Ending the session is what releases the advisory lock.
            with contextlib.suppress(psycopg.Error, OSError):
                await conn.close()


def default_leadership(db: Database, store: EventStore, name: str) -> Leadership:
    if isinstance(db, PostgresDatabase):
        # The recorder NOTIFYs a channel named like its events table.
        channel = getattr(store.recorder, "channel_name", None)
        return PostgresLeadership(db.conninfo, name, channel if isinstance(channel, str) else None)
    if isinstance(db, SQLiteDatabase):
        return FileLeadership(db.path.with_name(f"{db.path.name}.{name}.lock"))
    raise TypeError(f"no relay leadership for {type(db).__name__}")


class Relay:
    """Publishes the log to `bus`, in order, while it holds the leadership."""

    def __init__(
        self,
        store: EventStore,
        db: Database,
        bus: EventBus,
        name: str = "relay",
        batch: int = 500,
        *,
        interval: float = 1.0,
        lock_retry: float | None = None,
        source: str = DEFAULT_SOURCE,
        resume_from_bus: bool = True,
        leadership: Leadership | None = None,
        max_lag_samples: int = 100_000,
        gather: float = GATHER_SECONDS,
    ) -> None:
        self.store = store
        self.db = db
        self.bus = bus
        self.name = name
        self.batch = batch
        self.interval = interval
        self.lock_retry = interval if lock_retry is None else lock_retry
        self.source = source
        # Off when something other than this relay publishes to the stream,
        # whose last message then says nothing about this relay's progress.
        self.resume_from_bus = resume_from_bus
        self.leadership = leadership or default_leadership(db, store, name)
        self.max_lag_samples = max_lag_samples
        self.gather = gather
        # Seconds from each event's timestamp to its acknowledgement.
        self.lag_samples: list[float] = []
        self.published = 0
        self._position = 0
        self._is_leader = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        # A poke not yet taken by the loop: further ones until then add
        # nothing (each costs the loop a cross-thread wake-up).
        self._poked = False

    @property
    def position(self) -> int:
        """The last notification id known to be stored by the bus."""
        return self._position

    @property
    def is_leader(self) -> bool:
        return self._is_leader

    def poke(self) -> None:
        """Publish new events now; safe from any thread, cheap, never blocks."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return  # not running: it reads everything new when it starts
        if self._poked:
            return  # a wake-up is on its way and the read it causes comes later
        self._poked = True
        with contextlib.suppress(RuntimeError):  # the loop has just closed
            loop.call_soon_threadsafe(wake.set)

    def run_forever(self, stop: threading.Event) -> None:
        """Run in the calling thread, with its own event loop, until `stop`."""
        asyncio.run(self._run_until(stop))

    async def _run_until(self, stop: threading.Event) -> None:
        stopping = asyncio.Event()

        async def watch() -> None:
            while not stop.is_set():
                await asyncio.sleep(_STOP_POLL_SECONDS)
            stopping.set()

        watcher = asyncio.create_task(watch())
        try:
            await self.run(stopping)
        finally:
            watcher.cancel()

    async def run(self, stop: asyncio.Event) -> None:
        """Lead (or wait to lead) and publish until `stop` is set."""
        self._loop = asyncio.get_running_loop()
        wake = self._wake = asyncio.Event()
        self._poked = False

        async def wake_on_stop() -> None:
            await stop.wait()
            wake.set()

        stop_watcher = asyncio.create_task(wake_on_stop())
        failures = 0
        try:
            while not stop.is_set():
                try:
                    acquired = await self.leadership.try_acquire(self.poke)
                except Exception:
                    failures += 1
                    log.exception("relay %s could not try the leadership", self.name)
                    await self._pause(stop, self._backoff(failures))
                    continue
                failures = 0
                if acquired:
                    await self._lead(stop, wake)
                else:
                    await self._pause(stop, self.lock_retry)
        finally:
            stop_watcher.cancel()
            self._loop = self._wake = None
            await self.leadership.release()
            await self.bus.close()

    async def _lead(self, stop: asyncio.Event, wake: asyncio.Event) -> None:
        log.info("relay %s is the leader", self.name)
        self._is_leader = True
        failures = 0
        resumed = False
        try:
            while not stop.is_set() and self.leadership.held:
                # Cleared before reading, so a poke during the read counts.
                wake.clear()
                self._poked = False
                try:
                    await self.bus.start()
                    if not resumed:
                        self._ensure_table()
                        self._position = await self._resume_position()
                        resumed = True
                    await self._drain(stop)
                except Exception:
                    failures += 1
                    log.exception("relay %s failed; retrying", self.name)
                    await self._pause(stop, self._backoff(failures))
                    continue
                failures = 0
                await self._pause(stop, self.gather)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.interval)
        finally:
            self._is_leader = False
            await self.leadership.release()
            log.info("relay %s is no longer the leader", self.name)

    def _backoff(self, failures: int) -> float:
        factor: int = 2 ** min(failures, 10)
        return min(self.interval * factor, _MAX_BACKOFF_SECONDS)

    async def _pause(self, stop: asyncio.Event, seconds: float) -> None:
        # Waits on `stop` only: pokes must not cut a back-off short.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)

    async def _drain(self, stop: asyncio.Event) -> None:
        # Store and database calls are synchronous; they block this loop
        # briefly, which is fine as it serves nothing but the relay.
        while not stop.is_set() and self.leadership.held:
            if not self.bus.reaches_anyone():
                self._pass_over()
                return
            notifications = self.store.notifications(after=self._position, limit=self.batch)
            if not notifications:
                return
            await self.publish_batch(notifications)
            if len(notifications) < self.batch:
                return

    async def publish_batch(self, notifications: Sequence[Notification]) -> None:
        """Publish, wait for every ack, then record the position.

        An event that cannot be decoded or published raises, and the relay
        retries it for ever (logging each time) rather than skip it: a gap
        would be invisible to every subscriber.
        """
        messages: list[OutgoingMessage] = []
        timestamps: list[float] = []
        for notification in notifications:
            event = self.store.decode(notification)
            subject, payload = encode(notification, event, self.source)
            messages.append(OutgoingMessage(subject, payload, str(notification.id)))
            moment = getattr(event, "timestamp", None)
            if isinstance(moment, datetime):
                timestamps.append(moment.timestamp())
        try:
            await self.bus.publish_many(messages)
        except PublishFailedError as exc:
            if exc.acked:
                self.record_position(notifications[exc.acked - 1].id)
            raise
        self._record_lag(timestamps)
        self.published += len(messages)
        self.record_position(notifications[-1].id)

    def _pass_over(self) -> None:
        """Move past the log's head without decoding, encoding or publishing
        anything: what the in-process bus would hand to no one. A subscriber
        of that bus (it keeps nothing) only ever sees what comes after it
        subscribed, so this changes nothing it can tell."""
        head = self.store.max_notification_id()
        if head > self._position:
            self.record_position(head)

    def _record_lag(self, timestamps: list[float]) -> None:
        now = time.time()
        self.lag_samples.extend(now - t for t in timestamps)
        excess = len(self.lag_samples) - self.max_lag_samples
        if excess > 0:  # a long-running relay must not grow without bound
            del self.lag_samples[:excess]

    def record_position(self, position: int) -> None:
        """Persist `position` once the bus has stored everything up to it."""
        query = sql.SQL(
            "INSERT INTO {t} (name, position) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position "
            # Never backwards, even if a deposed leader writes late.
            "WHERE {t}.position < excluded.position"
        ).format(t=POSITIONS_TABLE)
        with self.db.transaction() as cursor:
            cursor.execute(query, (self.name, position))
        self._position = position

    def recorded_position(self) -> int:
        rows = self.db.query(
            sql.SQL("SELECT position FROM {} WHERE name = %s").format(POSITIONS_TABLE),
            (self.name,),
        )
        return int(rows[0]["position"]) if rows else 0

    def _ensure_table(self) -> None:
        with self.db.transaction() as cursor:
            cursor.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} "
                    "(name TEXT PRIMARY KEY, position BIGINT NOT NULL)"
                ).format(POSITIONS_TABLE)
            )

    async def _resume_position(self) -> int:
        recorded = self.recorded_position()
        if not self.resume_from_bus:
            return recorded
        tail = self._verified_tail(await self.bus.last_published())
        if tail <= recorded:
            return recorded
        log.info("relay %s resumes after %d, found on the bus", self.name, tail)
        self.record_position(tail)
        return tail

    def _verified_tail(self, last: PublishedMessage | None) -> int:
        """The bus's last notification id, if it is this log's event."""
        if last is None:
            return 0
        try:
            notification_id = int(last.msg_id)
            envelope = json.loads(last.payload)
        except ValueError:
            return 0
        found = self.store.notifications(after=notification_id - 1, limit=1)
        if (
            not isinstance(envelope, dict)
            or not found
            or found[0].id != notification_id
            or envelope.get("subject") != id_hex(found[0].originator_id)
            or envelope.get("strataversion") != found[0].originator_version
        ):
            # Another log (e.g. a wiped database) published to this stream.
            log.warning(
                "relay %s: the stream's last message %r is not from this log",
                self.name,
                last.msg_id,
            )
            return 0
        return notification_id


def bus_for(settings: Settings) -> EventBus:
    """JetStream when a server is configured, otherwise the in-process bus."""
    if settings.nats_url:
        return NatsBus(settings.nats_url, settings.stream_name)
    return InProcessBus()


def start_relay_thread(
    settings: Settings,
    store: EventStore,
    db: Database,
    bus: EventBus | None = None,
    name: str = "relay",
) -> tuple[threading.Thread, threading.Event, Relay]:
    """Start a relay in a daemon thread; stop it with `stop.set()` + join."""
    relay = Relay(
        store,
        db,
        bus if bus is not None else bus_for(settings),
        name,
        interval=settings.catch_up_interval,
        source=settings.event_source,
    )
    stop = threading.Event()
    thread = threading.Thread(
        target=relay.run_forever, args=(stop,), name=f"strata-{name}", daemon=True
    )
    thread.start()
    return thread, stop, relay
