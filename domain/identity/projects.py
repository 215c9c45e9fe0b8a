from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.base import Resource, check_name


class Project(Resource):
    class Created(Aggregate.Created):
        class_version = 1
        domain_id: uuid.UUID
        name: str
        description: str
        enabled: bool
        parent_id: uuid.UUID | None
        tags: list[str]
        extra: dict[str, Any]

    @event(Created)
    def __init__(
        self,
        domain_id: uuid.UUID,
        name: str,
        description: str,
        enabled: bool,
        parent_id: uuid.UUID | None,
        tags: list[str],
        extra: dict[str, Any],
    ) -> None:
        self.domain_id = domain_id
        self.name = check_name(name)
        self.description = description
        self.enabled = enabled
        self.parent_id = parent_id
        self.tags = tags
        self.extra = extra

    def update(self, **changes: Any) -> dict[str, Any]:
        if "name" in changes:
            check_name(changes["name"])
        return self._apply_changes(changes)
