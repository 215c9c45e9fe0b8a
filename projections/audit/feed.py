"""The log as subscribers read it: audit rows joined with their CloudEvents.

The audit index decides which events a reader may and wants to see (by
owner, actor, type, resource); the log supplies the events themselves, read
in runs of neighbouring notification ids so a filtered page costs a few
range reads, not one query per event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Notification

from infra.database import Row
from infra.envelope import REDACTED, SECRET_FIELDS, cloudevent, json_safe
from infra.eventstore import EventStore
from projections.audit.owners import as_id
from projections.audit.queries import AuditFilter, AuditQueries, Visibility

# Ids closer than this are read in one range; farther apart, separately.
RUN_GAP = 64
# The envelope's redaction covers password and secret hashes; a webhook's
# signing secret must be kept in clear (a signature needs it), so it is
# added for every audit, history, time-travel and feed answer.
PUBLIC_SECRETS = SECRET_FIELDS | {"secret"}


def public(value: Any) -> Any:
    """A JSON-safe copy with every secret field, at any depth, redacted."""
    return _redact(json_safe(value))


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: REDACTED if k in PUBLIC_SECRETS else _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    return value


def public_envelope(notification: Notification, event: object, source: str) -> dict[str, Any]:
    """The CloudEvent NATS subscribers get, with the extra redaction."""
    envelope = cloudevent(notification, event, source)
    envelope["data"] = _redact(envelope["data"])
    return envelope


@dataclass(frozen=True)
class FeedItem:
    id: int
    row: Row
    envelope: dict[str, Any]


@dataclass(frozen=True)
class Subscription:
    """What one reader wants and may see; matched against audit rows."""

    types: tuple[str, ...] = ()  # exact types or prefixes ending in `*`
    project_id: str | None = None
    resource_id: str | None = None
    visibility: Visibility | None = None

    def matches(self, row: Row) -> bool:
        if self.visibility is not None and not self.visibility.allows(row):
            return False
        if self.project_id and row.get("project_id") != as_id(self.project_id):
            return False
        if self.resource_id and row.get("resource_id") != as_id(self.resource_id):
            return False
        return not self.types or any(type_matches(t, row["event_type"]) for t in self.types)


def type_matches(wanted: str, event_type: str) -> bool:
    if wanted.endswith("*"):
        return event_type.startswith(wanted[:-1])
    return event_type == wanted


def runs(ids: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted ids as (first, last) ranges with gaps under RUN_GAP."""
    spans: list[tuple[int, int]] = []
    for n in sorted(ids):
        if spans and n - spans[-1][1] < RUN_GAP:
            spans[-1] = (spans[-1][0], n)
        else:
            spans.append((n, n))
    return spans


class EventFeed:
    def __init__(self, store: EventStore, queries: AuditQueries, source: str) -> None:
        self.store = store
        self.queries = queries
        self.source = source

    def items(self, rows: Sequence[Row]) -> list[FeedItem]:
        """Each row with its event's envelope, in the rows' order."""
        wanted = {int(r["notification_id"]) for r in rows}
        found: dict[int, Notification] = {}
        for first, last in runs(sorted(wanted)):
            for notification in self.store.notifications(
                after=first - 1, limit=last - first + 1, stop=last
            ):
                if notification.id in wanted:
                    found[notification.id] = notification
        items = []
        for row in rows:
            stored = found.get(int(row["notification_id"]))
            if stored is None:
                continue  # cannot happen while the log is append-only
            event = self.store.decode(stored)
            items.append(FeedItem(stored.id, row, public_envelope(stored, event, self.source)))
        return items

    def page(self, wanted: AuditFilter) -> list[FeedItem]:
        return self.items(self.queries.search(wanted))

    def after(self, position: int, limit: int) -> list[FeedItem]:
        """Every indexed event after `position`, unfiltered (the hub filters)."""
        return self.page(AuditFilter(after=position, limit=limit))


def matching(items: Iterable[FeedItem], subscription: Subscription) -> list[FeedItem]:
    return [item for item in items if subscription.matches(item.row)]
