from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.base import Resource, check_name


class User(Resource):
    """A person or program that authenticates; the hash is computed outside.

    Hashing is slow on purpose (argon2) and belongs to infrastructure, so the
    aggregate only ever sees the finished hash.
    """

    class Created(Aggregate.Created):
        class_version = 1
        domain_id: uuid.UUID
        name: str
        enabled: bool
        description: str
        email: str | None
        default_project_id: uuid.UUID | None
        password_hash: str | None
        extra: dict[str, Any]

    @event(Created)
    def __init__(
        self,
        domain_id: uuid.UUID,
        name: str,
        enabled: bool,
        description: str,
        email: str | None,
        default_project_id: uuid.UUID | None,
        password_hash: str | None,
        extra: dict[str, Any],
    ) -> None:
        self.domain_id = domain_id
        self.name = check_name(name)
        self.enabled = enabled
        self.description = description
        self.email = email
        self.default_project_id = default_project_id
        self.password_hash = password_hash
        self.extra = extra

    class PasswordChanged(Aggregate.Event):
        class_version = 1
        password_hash: str

    def update(self, **changes: Any) -> dict[str, Any]:
        if "name" in changes:
            check_name(changes["name"])
        return self._apply_changes(changes)

    def change_password(self, password_hash: str) -> None:
        self.require_alive()
        self._change_password(password_hash)

    @event(PasswordChanged)
    def _change_password(self, password_hash: str) -> None:
        self.password_hash = password_hash
