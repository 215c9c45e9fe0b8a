"""Application credentials: a secret a user delegates a subset of roles to."""

from __future__ import annotations

import uuid
from datetime import datetime

from eventsourcing.domain import Aggregate, event

from domain.base import Resource, check_name


class ApplicationCredential(Resource):
    class Created(Aggregate.Created):
        class_version = 1
        user_id: uuid.UUID
        project_id: uuid.UUID
        name: str
        description: str
        secret_hash: str
        role_ids: list[uuid.UUID]
        expires_at: datetime | None
        unrestricted: bool
        access_rules: list[dict[str, str]]

    @event(Created)
    def __init__(
        self,
        user_id: uuid.UUID,
        project_id: uuid.UUID,
        name: str,
        description: str,
        secret_hash: str,
        role_ids: list[uuid.UUID],
        expires_at: datetime | None,
        unrestricted: bool,
        access_rules: list[dict[str, str]],
    ) -> None:
        self.user_id = user_id
        self.project_id = project_id
        self.name = check_name(name)
        self.description = description
        self.secret_hash = secret_hash
        self.role_ids = role_ids
        self.expires_at = expires_at
        self.unrestricted = unrestricted
        self.access_rules = access_rules

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now
