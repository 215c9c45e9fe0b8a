"""Audit, time travel and subscriptions wired from a Cloud, and their text output.

Shared by the `events` HTTP service and the `strata audit/show/diff/
project-state` commands, so both read the same index the same way.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from api.events.support import EventsDeps
    from runtime.cloud import Cloud

AUDIT_COLUMNS = (
    "id",
    "time",
    "type",
    "resource_id",
    "user_id",
    "project_id",
    "request_id",
)


def events_deps(cloud: Cloud) -> EventsDeps:
    # Imported here so the command line does not load the web stack.
    from api.events.support import EventsDeps
    from projections.audit.feed import EventFeed
    from projections.audit.queries import AuditQueries
    from projections.audit.webhooks import WebhookQueries
    from workers.webhooks.log import DeliveryLog

    audit = AuditQueries(cloud.db)
    deliveries = DeliveryLog(cloud.db)
    deliveries.setup()
    return EventsDeps(
        store=cloud.store,
        runner=cloud.runner,
        bus=cloud.bus,
        authenticator=cloud.authenticator,
        audit=audit,
        feed=EventFeed(cloud.store, audit, cloud.settings.event_source),
        webhooks=WebhookQueries(cloud.db),
        deliveries=deliveries,
    )


def events_app(cloud: Cloud) -> ASGIApp:
    """The `events` service (port 8790); its SSE hub wakes on local commits."""
    from api.events.app import create_events_app

    app = create_events_app(events_deps(cloud))
    cloud.commit_listeners.append(app.state.hub.poke)
    return app


def start_webhook_worker(cloud: Cloud, interval: float | None = None) -> Callable[[], None]:
    """Run the webhook delivery worker in a daemon thread; returns its stopper."""
    from projections.audit.feed import EventFeed
    from projections.audit.queries import AuditQueries
    from projections.audit.webhooks import WebhookQueries
    from workers.webhooks.log import DeliveryLog
    from workers.webhooks.worker import WebhookWorker

    deliveries = DeliveryLog(cloud.db)
    deliveries.setup()
    feed = EventFeed(cloud.store, AuditQueries(cloud.db), cloud.settings.event_source)
    worker = WebhookWorker(
        WebhookQueries(cloud.db),
        feed,
        deliveries,
        interval=cloud.settings.catch_up_interval if interval is None else interval,
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), name="webhooks", daemon=True)
    thread.start()

    def stopper() -> None:
        stop.set()
        thread.join(timeout=10)

    return stopper


def render(rows: Sequence[dict[str, Any]], columns: Sequence[str], output: str) -> str:
    """Rows as `table` (aligned text), `json` (one array) or `csv`."""
    if output == "json":
        return json.dumps(list(rows), indent=2, sort_keys=True, default=str)
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue().rstrip("\n")
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)
