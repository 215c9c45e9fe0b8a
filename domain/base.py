"""The aggregate base every Strata resource builds on.

Events are nested on their aggregate, the eventsourcing way; the library
re-creates inherited event classes for each subclass, so an event's topic
always names the resource it belongs to (`domain.identity.projects:Project.Updated`).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate

from domain.errors import Conflict, InvalidInput

NAME_MAX_LENGTH = 255


class Resource(Aggregate):
    """An aggregate with partial updates and a soft delete.

    Deleted aggregates stay in the log (history is forever); `deleted` makes
    every further change a conflict instead of a silent resurrection.
    """

    deleted: bool = False

    class Updated(Aggregate.Event):
        class_version = 1
        changes: dict[str, Any]

        def apply(self, aggregate: Aggregate) -> None:
            for key, value in self.changes.items():
                setattr(aggregate, key, value)

    class Deleted(Aggregate.Event):
        class_version = 1

        def apply(self, aggregate: Aggregate) -> None:
            aggregate.deleted = True  # type: ignore[attr-defined]

    def _apply_changes(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Record an Updated event with only the values that really change."""
        self.require_alive()
        effective = {k: v for k, v in changes.items() if getattr(self, k, None) != v}
        if effective:
            self.trigger_event(self.Updated, changes=effective)
        return effective

    def delete(self) -> None:
        self.require_alive()
        self.trigger_event(self.Deleted)

    def require_alive(self) -> None:
        if self.deleted:
            raise Conflict(f"{type(self).__name__} {self.id} has been deleted.")


def check_name(name: str, what: str = "name") -> str:
    stripped = name.strip()
    if not stripped:
        raise InvalidInput(f"The {what} must not be empty.")
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidInput(f"The {what} must be at most {NAME_MAX_LENGTH} characters.")
    return name
