"""What wakes the compute agent for a convergence pass.

A message is a wake-up, not the data: the pass always reads the host's
desired state from the read models, which stay the one source of truth, so
a lost, repeated or reordered message can cost a pass but never leave the
host wrong. Two sources, chosen by whether the cloud has NATS:

- JetStreamWakeups: a durable pull consumer per host (`compute-agent-<host>`)
  on the stream the relay publishes. Each message carries its log position
  (the notification id in `Nats-Msg-Id`); the pass first brings the read
  models to the highest position it covers, so it never reads a state older
  than the message that woke it. Messages are acked only after that pass
  completed: an agent that dies mid-pass gets them again (at-least-once; a
  pass is idempotent), and one that was stopped finds the events published
  meanwhile waiting for its durable name.
- MarkerWakeups: the embedded profile's in-process bus has no consumers
  that outlive the process, so the agent watches the change markers of the
  read models it follows (ProjectionRunner.changed_position), as before.

Either way the agent also runs a full pass on a timer (the safety net).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import nats
from eventsourcing.utils import get_topic
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from domain.volume.volumes import Volume
from infra.envelope import SUBJECT_ROOT, subject_for_topic
from infra.nats_bus import MSG_ID_HEADER, STREAM_SUBJECTS, ensure_stream, subject_matches

log = logging.getLogger(__name__)

# What changes a compute host: its servers and its claims, and the volume
# attachments it plugs. The agent's own console reports change nothing it
# must do (and would wake every agent for every console line).
WAKE_SUBJECTS: tuple[str, ...] = (
    f"{SUBJECT_ROOT}.compute.server.>",
    f"{SUBJECT_ROOT}.compute.host.>",
    *(
        subject_for_topic(get_topic(event))
        for event in (
            Volume.AttachmentConnected,
            Volume.AttachmentCompleted,
            Volume.DetachRequested,
            Volume.AttachmentRemoved,
        )
    ),
)
IGNORED_SUBJECTS = (f"{SUBJECT_ROOT}.compute.server.console_output_recorded",)
MARKER_INTERVAL = 0.05  # how often MarkerWakeups reads the change markers
ACK_WAIT = 30.0  # an unacked message is delivered again after this long
FETCH_BATCH = 256
FETCH_TIMEOUT = 1.0
RETRY_SECONDS = 1.0


def consumer_name(host: str) -> str:
    """The host's durable name (a consumer name cannot hold `.`, `*`, `>`)."""
    return "compute-agent-" + re.sub(r"[^A-Za-z0-9_-]", "_", host)


def wakes(subject: str) -> bool:
    return subject not in IGNORED_SUBJECTS and any(
        subject_matches(pattern, subject) for pattern in WAKE_SUBJECTS
    )


@dataclass(frozen=True)
class Batch:
    """What one pass covers: the log position the read models must reach
    first (0: none) and the messages to ack once it completed."""

    position: int = 0
    messages: tuple[Any, ...] = ()


class Wakeups(Protocol):
    description: str

    def start(self) -> None: ...
    def take(self) -> Batch:
        """At the start of a pass: what it covers (wake-ups after this call
        trigger another pass)."""

    def done(self, batch: Batch) -> None:
        """The pass that took `batch` completed."""

    def wait(self, timeout: float) -> None:
        """Until a wake-up, or `timeout` seconds."""

    def poke(self) -> None: ...
    def stop(self) -> None: ...


class MarkerWakeups:
    def __init__(self, markers: Callable[[], Sequence[int]]) -> None:
        self.description = "watching the read models' change markers (in-process bus)"
        self._markers = markers
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="compute-wakeups", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _watch(self) -> None:
        seen = tuple(self._markers())
        while not self._stopping.wait(MARKER_INTERVAL):
            now = tuple(self._markers())
            if now != seen:
                seen = now
                self._wake.set()

    def take(self) -> Batch:
        self._wake.clear()
        return Batch()

    def done(self, batch: Batch) -> None:
        return None

    def wait(self, timeout: float) -> None:
        self._wake.wait(timeout)

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=5)


class JetStreamWakeups:
    """The durable consumer, served by an asyncio loop in a thread of its own.

    Messages that do not concern compute hosts (the server may be too old
    to filter on several subjects) are acked at once without a wake-up.
    """

    def __init__(
        self,
        url: str,
        stream: str,
        host: str,
        *,
        ack_wait: float = ACK_WAIT,
        connect_timeout: float = 2.0,
    ) -> None:
        self.url = url
        self.stream = stream
        self.durable = consumer_name(host)
        self.ack_wait = ack_wait
        self.connect_timeout = connect_timeout
        self.description = f"NATS JetStream durable consumer {self.durable} on {url}"
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._pending: dict[int, Msg] = {}  # by stream sequence: the newest delivery
        self._loop: asyncio.AbstractEventLoop | None = None
        self._nc: NatsClient | None = None
        self._main: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, name="compute-wakeups", daemon=True)

    # -- the agent's side (its own thread) ----------------------------------------
    def start(self) -> None:
        """Returns once the consumer exists, or after the connect timeout
        (the loop keeps trying; the timer covers the agent meanwhile)."""
        self._thread.start()
        if not self._ready.wait(self.connect_timeout + 5):
            log.warning("compute agent: %s not ready yet, retrying", self.description)

    def take(self) -> Batch:
        with self._lock:
            self._wake.clear()
            messages = tuple(self._pending.values())
        return Batch(max((_position(m) for m in messages), default=0), messages)

    def done(self, batch: Batch) -> None:
        if not batch.messages:
            return
        with self._lock:
            acks = list(batch.messages)
            for message in batch.messages:
                newest = self._pending.pop(message.metadata.sequence.stream, None)
                if newest is not None and newest is not message:
                    acks.append(newest)  # delivered again meanwhile: covered too
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # unacked: JetStream delivers them again
        future = asyncio.run_coroutine_threadsafe(self._ack(acks), loop)
        try:
            future.result(timeout=self.connect_timeout + 5)
        except Exception as error:  # delivered again later, a pass repeated: harmless
            log.warning("compute agent: acks not sent: %s", error)

    def wait(self, timeout: float) -> None:
        self._wake.wait(timeout)

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Disconnect; messages not acked yet are delivered again later."""
        self._stopping.set()
        self._wake.set()
        loop, task = self._loop, self._main
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                loop.call_soon_threadsafe(task.cancel)
        self._thread.join(timeout=10)

    # -- the consumer's loop --------------------------------------------------------
    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._main = asyncio.current_task()
        try:
            while not self._stopping.is_set():
                try:
                    await self._consume()
                except Exception as error:
                    log.warning("compute agent: %s: %s", self.description, error)
                    await self._close()
                    await asyncio.sleep(RETRY_SECONDS)
        except asyncio.CancelledError:
            return  # stop() cancels wherever the loop is, the retry's pause included
        finally:
            await self._close()

    async def _consume(self) -> None:
        nc = await nats.connect(
            self.url,
            name=f"strata-{self.durable}",
            connect_timeout=int(max(1, self.connect_timeout)),
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            error_cb=self._on_error,
        )
        self._nc = nc
        js = nc.jetstream(timeout=self.connect_timeout + 3)
        await ensure_stream(js, self.stream)
        await self._ensure_consumer(js, nc)
        subscription = await js.pull_subscribe_bind(self.durable, stream=self.stream)
        self._ready.set()
        while not self._stopping.is_set():
            try:
                messages = await subscription.fetch(FETCH_BATCH, timeout=FETCH_TIMEOUT)
            except nats.errors.TimeoutError:
                continue
            await self._received(messages)

    async def _ensure_consumer(self, js: JetStreamContext, nc: NatsClient) -> None:
        server = nc.connected_server_version
        several = (server.major, server.minor) >= (2, 10)
        config = ConsumerConfig(
            durable_name=self.durable,
            # A new consumer starts now: the agent's first pass reads the
            # whole desired state anyway.
            deliver_policy=DeliverPolicy.NEW,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            filter_subject=None if several else STREAM_SUBJECTS,
            filter_subjects=list(WAKE_SUBJECTS) if several else None,
        )
        try:
            found = (await js.consumer_info(self.stream, self.durable)).config
        except NotFoundError:
            found = None
        if found is not None:
            same = (
                found.filter_subject == config.filter_subject
                and (found.filter_subjects or None) == config.filter_subjects
                and found.ack_wait == config.ack_wait
            )
            if same:
                return
            # Its filter or timing changed (a server upgrade, a new release):
            # the restart's full pass covers whatever the swap skips.
            await js.delete_consumer(self.stream, self.durable)
        await js.add_consumer(self.stream, config)

    async def _received(self, messages: list[Msg]) -> None:
        woken = False
        for message in messages:
            if not wakes(message.subject):
                await message.ack()
                continue
            with self._lock:
                self._pending[message.metadata.sequence.stream] = message
            woken = True
        if woken:
            self._wake.set()

    async def _ack(self, messages: list[Msg]) -> None:
        for message in messages:
            await message.ack()
        if self._nc is not None:
            await self._nc.flush(timeout=int(max(1, self.connect_timeout)))

    async def _close(self) -> None:
        nc, self._nc = self._nc, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                await nc.close()

    async def _on_error(self, error: Exception) -> None:
        log.warning("compute agent: NATS connection to %s: %s", self.url, error)


def _position(message: Msg) -> int:
    try:
        return int((message.headers or {}).get(MSG_ID_HEADER, "0"))
    except ValueError:
        return 0
