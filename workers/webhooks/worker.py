"""Delivers the events each webhook asked for, each webhook on its own.

Every webhook has its own thread and its own recorded position, so an
endpoint that is down (and being retried with growing pauses) delays only
its own deliveries. Events reach one endpoint in log order: the next one is
sent once the previous one was delivered or finally given up on. A
supervisor starts a subscriber for each new webhook, from the event that
registered it, and stops the subscribers of deleted ones.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from infra.database import Row
from projections.audit.feed import EventFeed, FeedItem, Subscription
from projections.audit.queries import AuditFilter
from projections.audit.webhooks import WebhookQueries
from projections.base import format_time
from workers.webhooks.log import DELIVERED, FAILED, RETRYING, Attempt, DeliveryLog
from workers.webhooks.sender import SIGNATURE_HEADER, USER_AGENT, Answer, RetryPolicy, post, sign

log = logging.getLogger(__name__)

BATCH = 100
Post = Callable[[str, bytes, dict[str, str], float], Answer]


class WebhookSubscriber:
    def __init__(
        self,
        webhook: Row,
        feed: EventFeed,
        deliveries: DeliveryLog,
        policy: RetryPolicy,
        interval: float,
        sender: Post = post,
    ) -> None:
        self.webhook = webhook
        self.feed = feed
        self.deliveries = deliveries
        self.policy = policy
        self.interval = interval
        self.sender = sender
        self.stop = threading.Event()
        self.subscription = Subscription(
            types=tuple(webhook["types"]),
            project_id=webhook["filter_project_id"],
            resource_id=webhook["filter_resource_id"],
        )
        self.thread = threading.Thread(
            target=self.run, name=f"webhook-{webhook['id'][:8]}", daemon=True
        )

    def run(self) -> None:
        position = self.deliveries.position(self.webhook["id"]) or 0
        while not self.stop.is_set():
            try:
                position = self._deliver_batch(position)
            except Exception:  # a database hiccup: try the same batch again later
                log.exception("webhook %s: delivery round failed", self.webhook["id"])
                self.stop.wait(max(self.interval, 1.0))
                continue
            self.stop.wait(self.interval)

    def _deliver_batch(self, position: int) -> int:
        single = self.subscription.types[0] if len(self.subscription.types) == 1 else None
        wanted = AuditFilter(
            project_id=self.subscription.project_id,
            resource_id=self.subscription.resource_id,
            event_type=single,
            after=position,
            limit=BATCH,
        )
        while not self.stop.is_set():
            items = self.feed.page(wanted)
            for item in items:
                if self.stop.is_set():
                    return position
                if self.subscription.matches(item.row):
                    self._deliver(item)
                position = item.id
            if len(items) < BATCH:
                return position
            wanted = AuditFilter(**{**vars(wanted), "after": position})
        return position

    def _deliver(self, item: FeedItem) -> None:
        body = json.dumps(item.envelope, separators=(",", ":"), ensure_ascii=False).encode()
        for attempt in range(1, self.policy.attempts + 1):
            headers = {
                "Content-Type": "application/cloudevents+json",
                "User-Agent": USER_AGENT,
                SIGNATURE_HEADER: sign(self.webhook["secret"], body),
                "X-Strata-Webhook-Id": self.webhook["id"],
                "X-Strata-Event-Id": str(item.id),
                "X-Strata-Delivery-Attempt": str(attempt),
            }
            started = time.perf_counter()
            answer = self.sender(self.webhook["url"], body, headers, self.policy.timeout)
            elapsed = (time.perf_counter() - started) * 1000
            last = attempt == self.policy.attempts
            outcome = DELIVERED if answer.ok else FAILED if last else RETRYING
            done = outcome != RETRYING
            self.deliveries.record(
                Attempt(
                    webhook_id=self.webhook["id"],
                    notification_id=item.id,
                    attempt=attempt,
                    outcome=outcome,
                    status_code=answer.status,
                    error=answer.error,
                    at=format_time(datetime.now(UTC)),
                    duration_ms=round(elapsed, 3),
                ),
                position=item.id if done else None,
            )
            if done:
                return
            if self.stop.wait(self.policy.delay(attempt)):
                return  # stopping: the event is retried after a restart


class WebhookWorker:
    """Keeps one subscriber running per registered webhook."""

    def __init__(
        self,
        webhooks: WebhookQueries,
        feed: EventFeed,
        deliveries: DeliveryLog,
        policy: RetryPolicy | None = None,
        interval: float = 1.0,
        sender: Post = post,
    ) -> None:
        self.webhooks = webhooks
        self.feed = feed
        self.deliveries = deliveries
        self.policy = policy or RetryPolicy()
        self.interval = interval
        self.sender = sender
        self.running: dict[str, WebhookSubscriber] = {}

    def reconcile(self) -> None:
        """Start subscribers of new webhooks, stop those of deleted ones."""
        current = {row["id"]: row for row in self.webhooks.all()}
        for webhook_id in list(self.running):
            if webhook_id not in current:
                self.running.pop(webhook_id).stop.set()
        for webhook_id, row in current.items():
            if webhook_id in self.running:
                continue
            if self.deliveries.position(webhook_id) is None:
                created = self.feed.queries.first_event(webhook_id)
                if created is None:
                    continue  # not indexed yet: next round
                # Deliver what happens after the registration, not the past.
                self.deliveries.start_at(webhook_id, int(created["notification_id"]))
            subscriber = WebhookSubscriber(
                row, self.feed, self.deliveries, self.policy, self.interval, self.sender
            )
            self.running[webhook_id] = subscriber
            subscriber.thread.start()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.reconcile()
            except Exception:  # keep supervising; the next round reads again
                log.exception("webhook supervisor round failed")
            stop.wait(self.interval)
        self.close()

    def close(self, timeout: float = 5.0) -> None:
        for subscriber in self.running.values():
            subscriber.stop.set()
        for subscriber in self.running.values():
            subscriber.thread.join(timeout)
        self.running.clear()
