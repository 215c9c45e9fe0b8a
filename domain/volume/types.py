"""Volume types: a name, a description, public or not, and extra specs.

Cinder always has a `__DEFAULT__` type; Strata's is built in (a fixed id, never
stored), so a fresh cloud can create volumes before an admin defines any type.
"""

from __future__ import annotations

import uuid

from eventsourcing.domain import Aggregate, event

from domain.base import Resource, check_name
from domain.errors import InvalidInput

DEFAULT_TYPE_ID = uuid.UUID("5a1e0f3c-2b1d-4c0e-9f7a-3d2c1b0a9e8f")
DEFAULT_TYPE_NAME = "__DEFAULT__"
DEFAULT_TYPE = {
    "id": str(DEFAULT_TYPE_ID),
    "name": DEFAULT_TYPE_NAME,
    "description": "Default Volume Type",
    "is_public": True,
    "extra_specs": {},
}


def check_extra_specs(specs: dict[str, str]) -> dict[str, str]:
    for key, value in specs.items():
        if not isinstance(key, str) or not 0 < len(key) <= 255:
            raise InvalidInput("Invalid input received: extra spec keys must be 1-255 characters.")
        if not isinstance(value, str) or len(value) > 255:
            raise InvalidInput(f"Invalid input received: extra spec {key} must be a string.")
    return dict(sorted(specs.items()))


class VolumeType(Resource):
    class Created(Aggregate.Created):
        class_version = 1
        name: str
        description: str | None
        is_public: bool
        extra_specs: dict[str, str]

    @event(Created)
    def __init__(
        self, name: str, description: str | None, is_public: bool, extra_specs: dict[str, str]
    ) -> None:
        self.name = check_name(name, "volume type name")
        self.description = description
        self.is_public = is_public
        self.extra_specs = check_extra_specs(extra_specs)

    def snapshot(self) -> dict[str, str]:
        """What a volume records of its type (the type may change later)."""
        return {"id": str(self.id), "name": self.name}

    def update_details(
        self, name: str | None, description: str | None, is_public: bool | None
    ) -> None:
        changes: dict[str, object] = {}
        if name is not None:
            changes["name"] = check_name(name, "volume type name")
        if description is not None:
            changes["description"] = description
        if is_public is not None:
            changes["is_public"] = is_public
        self._apply_changes(changes)

    class ExtraSpecsChanged(Aggregate.Event):
        class_version = 1
        extra_specs: dict[str, str]

    def set_extra_specs(self, specs: dict[str, str], remove: list[str] | None = None) -> None:
        self.require_alive()
        merged = {**self.extra_specs, **check_extra_specs(specs)}
        for key in remove or []:
            merged.pop(key, None)
        merged = dict(sorted(merged.items()))
        if merged != self.extra_specs:
            self._specs(merged)

    @event(ExtraSpecsChanged)
    def _specs(self, extra_specs: dict[str, str]) -> None:
        self.extra_specs = extra_specs
