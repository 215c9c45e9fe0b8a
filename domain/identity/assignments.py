"""A role granted to a user or group on a project or domain.

One aggregate per (actor, target, role), keyed deterministically, so granting
twice is a no-op and two concurrent grants cannot both create it.
"""

from __future__ import annotations

import uuid
from typing import Literal

from eventsourcing.domain import Aggregate, event

ActorType = Literal["user", "group"]
TargetType = Literal["project", "domain", "system"]

ASSIGNMENT_NAMESPACE = uuid.UUID("a3c9c8f2-5d0e-4a57-8d3e-0b9f4f7d6a21")
# The target of system-scoped grants: there is one system.
SYSTEM_TARGET_ID = uuid.UUID(int=0)


def assignment_id(
    actor_type: str,
    actor_id: uuid.UUID,
    target_type: str,
    target_id: uuid.UUID,
    role_id: uuid.UUID,
    inherited: bool = False,
) -> uuid.UUID:
    key = f"{actor_type}:{actor_id}:{target_type}:{target_id}:{role_id}:{inherited}"
    return uuid.uuid5(ASSIGNMENT_NAMESPACE, key)


class RoleAssignment(Aggregate):
    class Created(Aggregate.Created):
        class_version = 1
        actor_type: str
        actor_id: uuid.UUID
        target_type: str
        target_id: uuid.UUID
        role_id: uuid.UUID
        inherited: bool

    @event(Created)
    def __init__(
        self,
        actor_type: str,
        actor_id: uuid.UUID,
        target_type: str,
        target_id: uuid.UUID,
        role_id: uuid.UUID,
        inherited: bool,
    ) -> None:
        self.actor_type = actor_type
        self.actor_id = actor_id
        self.target_type = target_type
        self.target_id = target_id
        self.role_id = role_id
        self.inherited = inherited
        self.granted = True

    @classmethod
    def create_id(
        cls,
        actor_type: str,
        actor_id: uuid.UUID,
        target_type: str,
        target_id: uuid.UUID,
        role_id: uuid.UUID,
        inherited: bool,
    ) -> uuid.UUID:
        return assignment_id(actor_type, actor_id, target_type, target_id, role_id, inherited)

    class Granted(Aggregate.Event):
        class_version = 1

    class Revoked(Aggregate.Event):
        class_version = 1

    def grant(self) -> bool:
        if self.granted:
            return False
        self._grant()
        return True

    @event(Granted)
    def _grant(self) -> None:
        self.granted = True

    def revoke(self) -> bool:
        if not self.granted:
            return False
        self._revoke()
        return True

    @event(Revoked)
    def _revoke(self) -> None:
        self.granted = False
