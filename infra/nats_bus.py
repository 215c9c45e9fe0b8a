"""Where the relay publishes: NATS JetStream, or an in-process stand-in.

Both buses deduplicate by message id within a window (JetStream through the
`Nats-Msg-Id` header and the stream's duplicate window), which is what lets
the relay republish after a crash without subscribers seeing an event twice.

`publish_many` pipelines a batch (every message is sent before any ack is
awaited) because a round trip per event would cap the relay at a few
thousand events a second. Pipelining alone could store a batch out of order
when one message is lost and the next is not (seen when the server restarts:
nats-py sends its reconnect buffer, the message in flight is gone), so every
message but the first names its predecessor in `Nats-Expected-Last-Msg-Id`
and JetStream refuses it unless that predecessor is the stream's last
message. What is stored of a batch is therefore always a prefix, in order;
the acks, checked in order, tell the caller how long that prefix is.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import PubAck, StorageType, StreamConfig
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)

DEFAULT_STREAM = "STRATA"
STREAM_SUBJECTS = "strata.events.>"
# Long enough to cover a relay restart; a longer outage is covered by the
# relay resuming after the stream's last message (see workers.relay).
DUPLICATE_WINDOW_SECONDS = 120.0
MSG_ID_HEADER = "Nats-Msg-Id"
EXPECTED_LAST_MSG_ID_HEADER = "Nats-Expected-Last-Msg-Id"


@dataclass(frozen=True)
class OutgoingMessage:
    subject: str
    payload: bytes
    msg_id: str


@dataclass(frozen=True)
class PublishedMessage:
    subject: str
    payload: bytes
    msg_id: str
    seq: int


class PublishFailedError(Exception):
    """Part of a batch was not acknowledged; `acked` leading messages were."""

    def __init__(self, acked: int, cause: BaseException | None) -> None:
        super().__init__(f"publish failed after {acked} acknowledged message(s): {cause!r}")
        self.acked = acked
        self.cause = cause


class EventBus(Protocol):
    async def start(self) -> None:
        """Connect and prepare (idempotent); called from the loop that publishes."""

    async def publish(self, subject: str, payload: bytes, msg_id: str) -> int:
        """Publish one message, wait until it is stored; its sequence number."""

    async def publish_many(self, messages: Sequence[OutgoingMessage]) -> list[int]:
        """Publish in order, pipelined; raise PublishFailedError unless all acked."""

    async def last_published(self) -> PublishedMessage | None:
        """The newest stored message, if the bus keeps one."""

    def reaches_anyone(self) -> bool:
        """Whether a message published now would reach anyone: a stream
        keeps it for consumers to come; a bus without storage only hands
        it to the subscribers it has at that moment."""

    async def close(self) -> None: ...


class NatsBus:
    """A JetStream connection bound to one stream.

    Construction does no I/O so the bus can be built in one thread and
    started in the event loop (and thread) of the relay that uses it.
    """

    def __init__(
        self,
        url: str,
        stream_name: str = DEFAULT_STREAM,
        *,
        client_name: str = "strata-relay",
        ack_timeout: float = 5.0,
        connect_timeout: float = 2.0,
    ) -> None:
        self.url = url
        self.stream_name = stream_name
        self.client_name = client_name
        self.ack_timeout = ack_timeout
        self.connect_timeout = connect_timeout
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("NatsBus.start() has not been awaited")
        return self._js

    async def start(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            return
        nc = await nats.connect(
            self.url,
            name=self.client_name,
            connect_timeout=int(max(1, self.connect_timeout)),
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            error_cb=self._on_error,
        )
        try:
            js = nc.jetstream(timeout=self.ack_timeout)
            await ensure_stream(js, self.stream_name)
        except BaseException:
            await nc.close()
            raise
        self._nc, self._js = nc, js

    async def _on_error(self, error: Exception) -> None:
        # Without a callback nats-py logs every reconnect attempt at ERROR.
        log.warning("NATS connection to %s: %s", self.url, error)

    def _headers(self, msg_id: str, previous_id: str | None = None) -> dict[str, str]:
        headers = {MSG_ID_HEADER: msg_id}
        if previous_id is not None:
            headers[EXPECTED_LAST_MSG_ID_HEADER] = previous_id
        return headers

    async def publish(self, subject: str, payload: bytes, msg_id: str) -> int:
        ack = await self.js.publish(
            subject, payload, stream=self.stream_name, headers=self._headers(msg_id)
        )
        return ack.seq

    async def publish_many(self, messages: Sequence[OutgoingMessage]) -> list[int]:
        js, nc = self.js, self._nc
        futures: list[asyncio.Future[PubAck]] = []
        send_error: BaseException | None = None
        previous_id: str | None = None
        for message in messages:
            # The rest of the batch would be refused anyway (or buffered
            # until a reconnect): fail now rather than after the ack timeout.
            if nc is None or not nc.is_connected:
                send_error = ConnectionError("not connected to NATS")
                break
            try:
                futures.append(
                    await js.publish_async(
                        message.subject,
                        message.payload,
                        wait_stall=self.ack_timeout,
                        stream=self.stream_name,
                        # The first message goes unchecked: all before it
                        # are acknowledged, and a restarted server may not
                        # know its last message id until something new is
                        # stored (it would refuse a checked one for ever).
                        # Deduplication is checked before the expectation,
                        # so republished messages are still recognised.
                        headers=self._headers(message.msg_id, previous_id),
                    )
                )
            except Exception as exc:
                send_error = exc
                break
            previous_id = message.msg_id
        if futures:
            # An ack that never comes leaves its future pending for ever.
            _, pending = await asyncio.wait(futures, timeout=self.ack_timeout)
            for future in pending:
                future.cancel()
        return _acked_prefix(futures, len(messages), send_error)

    def reaches_anyone(self) -> bool:
        return True  # the stream keeps every message

    async def last_published(self) -> PublishedMessage | None:
        info = await self.js.stream_info(self.stream_name)
        last_seq = info.state.last_seq
        if not last_seq:
            return None
        try:
            raw = await self.js.get_msg(self.stream_name, seq=last_seq)
        except NotFoundError:  # deleted, or aged out since stream_info
            return None
        msg_id = (raw.headers or {}).get(MSG_ID_HEADER, "")
        return PublishedMessage(raw.subject or "", raw.data or b"", msg_id, last_seq)

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            await nc.close()


def _acked_prefix(
    futures: Sequence[asyncio.Future[PubAck]],
    total: int,
    send_error: BaseException | None,
) -> list[int]:
    seqs: list[int] = []
    for future in futures:
        if future.cancelled():
            # Possibly stored with its ack lost: retrying it is harmless,
            # deduplication recognises it.
            raise PublishFailedError(len(seqs), TimeoutError("no acknowledgement"))
        error = future.exception()
        if error is not None:
            raise PublishFailedError(len(seqs), error)
        seqs.append(future.result().seq)
    if len(seqs) < total:
        raise PublishFailedError(len(seqs), send_error)
    return seqs


async def ensure_stream(js: JetStreamContext, name: str) -> None:
    """Create the stream, or widen an existing one to what the relay needs.

    An operator may have tuned retention or replicas, so an existing stream
    is only changed where it would break the relay: missing subjects or a
    duplicate window too short to absorb a restart.
    """
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(
            StreamConfig(
                name=name,
                subjects=[STREAM_SUBJECTS],
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
            )
        )
        return
    config = info.config
    subjects = list(config.subjects or [])
    if STREAM_SUBJECTS in subjects and config.duplicate_window >= DUPLICATE_WINDOW_SECONDS:
        return
    if STREAM_SUBJECTS not in subjects:
        subjects.append(STREAM_SUBJECTS)
    window = max(config.duplicate_window, DUPLICATE_WINDOW_SECONDS)
    await js.update_stream(config.evolve(subjects=subjects, duplicate_window=window))


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcard matching: `*` is one token, a final `>` one or more."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens) or token not in ("*", tokens[index]):
            return False
    return len(tokens) == len(wanted)


Handler = Callable[[PublishedMessage], None]


class InProcessBus:
    """The embedded profile's bus: no server, no persistence.

    Subscribers are plain callbacks run in the publisher's thread, in
    publish order (there is one publisher, the relay); they must be quick
    and thread-safe. A failing callback is logged and does not fail the
    publish, as a slow or broken JetStream consumer would not either.
    """

    def __init__(
        self,
        duplicate_window: float = DUPLICATE_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.duplicate_window = duplicate_window
        self._clock = clock
        self._lock = threading.Lock()
        self._subscribers: dict[int, tuple[str, Handler]] = {}
        self._next_token = 0
        self._seen: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._seq = 0
        self._last: PublishedMessage | None = None

    def subscribe(self, pattern: str, handler: Handler) -> Callable[[], None]:
        """Call `handler` for each new message matching `pattern`;
        returns a function that unsubscribes."""
        with self._lock:
            token = self._next_token
            self._next_token += 1
            self._subscribers[token] = (pattern, handler)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers.pop(token, None)

        return unsubscribe

    async def start(self) -> None:
        return None

    def _store(self, subject: str, payload: bytes, msg_id: str) -> tuple[int, bool]:
        """Record the message: its sequence number, and whether it is new."""
        now = self._clock()
        with self._lock:
            # Entries are in arrival order, so expired ones are at the front.
            while self._seen:
                oldest_id, (_, stored_at) = next(iter(self._seen.items()))
                if now - stored_at < self.duplicate_window:
                    break
                del self._seen[oldest_id]
            if msg_id in self._seen:
                return self._seen[msg_id][0], False
            self._seq += 1
            self._seen[msg_id] = (self._seq, now)
            self._last = PublishedMessage(subject, payload, msg_id, self._seq)
            return self._seq, True

    async def publish(self, subject: str, payload: bytes, msg_id: str) -> int:
        seq, is_new = self._store(subject, payload, msg_id)
        if not is_new:
            return seq
        message = PublishedMessage(subject, payload, msg_id, seq)
        with self._lock:
            handlers = [h for p, h in self._subscribers.values() if subject_matches(p, subject)]
        for handler in handlers:
            try:
                handler(message)
            except Exception:
                log.exception("in-process subscriber failed on %s", subject)
        return seq

    async def publish_many(self, messages: Sequence[OutgoingMessage]) -> list[int]:
        return [await self.publish(m.subject, m.payload, m.msg_id) for m in messages]

    def reaches_anyone(self) -> bool:
        with self._lock:
            return bool(self._subscribers)

    async def last_published(self) -> PublishedMessage | None:
        with self._lock:
            return self._last

    async def close(self) -> None:
        return None
