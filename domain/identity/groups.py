from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.base import Resource, check_name


class Group(Resource):
    class Created(Aggregate.Created):
        class_version = 1
        domain_id: uuid.UUID
        name: str
        description: str

    @event(Created)
    def __init__(self, domain_id: uuid.UUID, name: str, description: str) -> None:
        self.domain_id = domain_id
        self.name = check_name(name)
        self.description = description
        self.members: list[uuid.UUID] = []

    class MemberAdded(Aggregate.Event):
        class_version = 1
        user_id: uuid.UUID

    class MemberRemoved(Aggregate.Event):
        class_version = 1
        user_id: uuid.UUID

    def update(self, **changes: Any) -> dict[str, Any]:
        if "name" in changes:
            check_name(changes["name"])
        return self._apply_changes(changes)

    def add_member(self, user_id: uuid.UUID) -> None:
        self.require_alive()
        if user_id not in self.members:
            self._add_member(user_id)

    @event(MemberAdded)
    def _add_member(self, user_id: uuid.UUID) -> None:
        self.members.append(user_id)

    def remove_member(self, user_id: uuid.UUID) -> bool:
        self.require_alive()
        if user_id not in self.members:
            return False
        self._remove_member(user_id)
        return True

    @event(MemberRemoved)
    def _remove_member(self, user_id: uuid.UUID) -> None:
        self.members.remove(user_id)
