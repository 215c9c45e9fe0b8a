from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.base import Resource, check_name
from domain.errors import InvalidInput


class Role(Resource):
    """A named set of permissions; a role may imply others (admin → member)."""

    class Created(Aggregate.Created):
        class_version = 1
        name: str
        domain_id: uuid.UUID | None
        description: str

    @event(Created)
    def __init__(self, name: str, domain_id: uuid.UUID | None, description: str) -> None:
        self.name = check_name(name)
        self.domain_id = domain_id
        self.description = description
        self.implies: list[uuid.UUID] = []

    class ImplicationAdded(Aggregate.Event):
        class_version = 1
        implied_role_id: uuid.UUID

    class ImplicationRemoved(Aggregate.Event):
        class_version = 1
        implied_role_id: uuid.UUID

    def update(self, **changes: Any) -> dict[str, Any]:
        if "name" in changes:
            check_name(changes["name"])
        return self._apply_changes(changes)

    def imply(self, implied_role_id: uuid.UUID) -> None:
        self.require_alive()
        if implied_role_id == self.id:
            raise InvalidInput("A role cannot imply itself.")
        if implied_role_id not in self.implies:
            self._imply(implied_role_id)

    @event(ImplicationAdded)
    def _imply(self, implied_role_id: uuid.UUID) -> None:
        self.implies.append(implied_role_id)

    def stop_implying(self, implied_role_id: uuid.UUID) -> bool:
        if implied_role_id not in self.implies:
            return False
        self._stop_implying(implied_role_id)
        return True

    @event(ImplicationRemoved)
    def _stop_implying(self, implied_role_id: uuid.UUID) -> None:
        self.implies.remove(implied_role_id)
