"""A resource as it was at a moment, folded from its own events.

Never from a projection: read models only know the present. The aggregate's
events up to the moment are applied exactly as loading the aggregate does,
so a past state is what the domain itself would have seen then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.utils import get_topic

from infra.envelope import name_parts
from projections.audit.feed import public
from projections.audit.queries import AuditQueries


class History(Protocol):
    def history(self, aggregate_id: UUID) -> list[DomainEventProtocol[UUID]]: ...


@dataclass
class Snapshot:
    resource_id: str
    resource_type: str
    at: datetime
    version: int = 0
    exists: bool = False
    deleted: bool = False
    state: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The snapshot as the API and the CLI show it, secrets redacted."""
        return {
            "id": self.resource_id,
            "type": self.resource_type,
            "at": public(self.at),
            "version": self.version,
            "exists": self.exists,
            "deleted": self.deleted,
            "state": public(self.state),
        }


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any


def parse_moment(text: str) -> datetime:
    """ISO-8601 (`2026-01-02T03:04:05Z`, an offset, or a bare date); UTC if naive."""
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    moment = datetime.fromisoformat(cleaned)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def fold(
    resource_id: UUID, events: Sequence[DomainEventProtocol[UUID]], at: datetime
) -> Snapshot | None:
    """The state after every event stamped at or before `at`; None when the
    resource has no events at all."""
    if not events:
        return None
    snapshot = Snapshot(resource_id.hex, name_parts(get_topic(type(events[0])))[1], at)
    aggregate: Any = None
    for event in events:
        if vars(event)["timestamp"] > at:
            break  # an aggregate's events are stamped in version order
        aggregate = event.mutate(aggregate)  # type: ignore[attr-defined]
    if aggregate is None:
        return snapshot
    snapshot.exists = True
    snapshot.version = aggregate.version
    snapshot.deleted = bool(getattr(aggregate, "deleted", False))
    snapshot.state = {
        "id": resource_id.hex,
        "created_at": aggregate.created_on,
        "updated_at": aggregate.modified_on,
        **{k: v for k, v in vars(aggregate).items() if not k.startswith("_") and k != "deleted"},
    }
    return snapshot


def state_at(store: History, resource_id: UUID, at: datetime) -> Snapshot | None:
    return fold(resource_id, store.history(resource_id), at)


def project_state(
    queries: AuditQueries, store: History, project_id: str, at: datetime
) -> list[Snapshot]:
    """What the project owned at `at`: every resource it had created by
    then and not yet deleted, each as it was at that moment."""
    owned: list[Snapshot] = []
    for row in queries.resources_of(project_id, at):
        snapshot = state_at(store, UUID(row["resource_id"]), at)
        if snapshot is not None and snapshot.exists and not snapshot.deleted:
            owned.append(snapshot)
    return owned


def diff(before: Snapshot, after: Snapshot) -> list[FieldChange]:
    """Every field whose (public) value differs, in name order."""
    old, new = public(before.state), public(after.state)
    changes = [
        FieldChange(name, old.get(name), new.get(name))
        for name in sorted(old.keys() | new.keys())
        if old.get(name) != new.get(name)
    ]
    if before.deleted != after.deleted:
        changes.append(FieldChange("deleted", before.deleted, after.deleted))
    return changes
