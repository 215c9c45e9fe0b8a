"""What every Neutron resource shares: tags and a revision number.

Neutron bumps `revision_number` on every change of a resource, and clients
send it back in `If-Match` to update only what they last saw; the aggregate
keeps the number so that check happens inside the write transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from domain.base import Resource
from domain.errors import InvalidInput
from domain.network.errors import check_revision

TAG_MAX_LENGTH = 255


class NetworkResource(Resource):
    revision_number: int = 1
    if TYPE_CHECKING:  # set by each resource's __init__; not a dataclass field
        tags: list[str]

    class Updated(Resource.Updated):
        def apply(self, aggregate: Aggregate) -> None:
            super().apply(aggregate)
            aggregate.revision_number += 1  # type: ignore[attr-defined]

    class Changed(Aggregate.Event):
        """A state change reported by an agent (status, binding)."""

        class_version = 1
        changes: dict[str, Any]

        def apply(self, aggregate: Aggregate) -> None:
            for key, value in self.changes.items():
                setattr(aggregate, key, value)
            aggregate.revision_number += 1  # type: ignore[attr-defined]

    def update(self, expected_revision: int | None = None, **changes: Any) -> dict[str, Any]:
        self.require_alive()
        check_revision(self.revision_number, expected_revision)
        if "tags" in changes:
            changes["tags"] = check_tags(changes["tags"])
        return self._apply_changes(changes)

    def record(self, **changes: Any) -> None:
        """Record what an agent observed, when it differs from what we know."""
        self.require_alive()
        effective = {k: v for k, v in changes.items() if getattr(self, k, None) != v}
        if effective:
            self.trigger_event(self.Changed, changes=effective)


def check_tags(tags: list[str]) -> list[str]:
    for tag in tags:
        if not tag or len(tag) > TAG_MAX_LENGTH or "," in tag or "/" in tag:
            raise InvalidInput(f"Invalid input for operation: '{tag}' is not a valid tag.")
    # Neutron keeps tags as a set; sorted keeps events and rows deterministic.
    return sorted(set(tags))
