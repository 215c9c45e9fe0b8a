"""One reader of the log for every Server-Sent Events subscriber of a process.

SQLite cannot notify, so new events are found by polling; the hub polls
once for everyone and hands each subscriber the new items through its own
queue. A subscriber first catches up from where it asked to start, then
takes the live items, dropping those it already sent: the hub's position at
the moment it subscribed joins the two without a gap. A subscriber too slow
for its queue is cut loose and catches up from the log again, so one slow
reader never holds the others back or grows memory without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

from infra.eventstore import EventStore
from projections.audit.feed import EventFeed, FeedItem
from projections.runner import ProjectionRunner

log = logging.getLogger(__name__)

BATCH = 500
QUEUE_SIZE = 10_000


@dataclass(eq=False)
class Subscriber:
    start: int
    queue: asyncio.Queue[FeedItem | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: bool = False


class FeedHub:
    def __init__(
        self,
        store: EventStore,
        runner: ProjectionRunner,
        feed: EventFeed,
        interval: float,
    ) -> None:
        self.store = store
        self.runner = runner
        self.feed = feed
        self.interval = interval
        self.position: int | None = None
        self._subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    def poke(self, _position: int = 0) -> None:
        """Look for new events now (a writer in this process just committed);
        safe to call from any thread."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    async def subscribe(self) -> Subscriber:
        if self.position is None:
            indexed = await run_in_threadpool(self._indexed)
            # Another subscriber may have started the hub meanwhile; its
            # position is the one the hub publishes from.
            if self.position is None:
                self.position = indexed
        # No await between reading the position and joining: every item the
        # hub publishes from now on is after `start`.
        subscriber = Subscriber(self.position)
        self._subscribers.add(subscriber)
        if self._task is None or self._task.done():
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            self._task = self._loop.create_task(self._run())
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def _indexed(self) -> int:
        """Bring the audit index up to the log's head; its position."""
        return self.runner.catch_up("audit")

    async def _run(self) -> None:
        assert self._wake is not None
        while self._subscribers:
            try:
                await self._poll()
            except Exception:  # keep serving: the next round reads again
                log.exception("event feed poll failed")
                await asyncio.sleep(max(self.interval, 1.0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
        self.position = None  # nobody listens: start afresh next time

    async def _poll(self) -> None:
        assert self.position is not None
        head = await run_in_threadpool(self.store.max_notification_id)
        while self.position < head:
            indexed = await run_in_threadpool(self._indexed)
            items = await run_in_threadpool(self.feed.after, self.position, BATCH)
            self._publish(items)
            if len(items) < BATCH:
                # Everything indexed at the time of the read has been seen.
                self.position = max(self.position, indexed)
                return

    def _publish(self, items: list[FeedItem]) -> None:
        for item in items:
            for subscriber in list(self._subscribers):
                try:
                    subscriber.queue.put_nowait(item)
                except asyncio.QueueFull:
                    self._drop(subscriber)
            self.position = max(self.position or 0, item.id)

    def _drop(self, subscriber: Subscriber) -> None:
        subscriber.dropped = True
        self._subscribers.discard(subscriber)
        with contextlib.suppress(asyncio.QueueEmpty):
            subscriber.queue.get_nowait()  # make room for the wake-up below
        subscriber.queue.put_nowait(None)
