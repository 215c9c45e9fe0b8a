"""The service catalog: regions, services and their endpoints."""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.base import Resource, check_name
from domain.errors import InvalidInput

REGION_NAMESPACE = uuid.UUID("4d2f7b1e-2c33-4f8a-9b61-6f0d6c1e9a55")
INTERFACES = ("public", "internal", "admin")


def region_uuid(region_id: str) -> uuid.UUID:
    """Region ids are chosen by people ("RegionOne"); the aggregate id follows."""
    return uuid.uuid5(REGION_NAMESPACE, region_id)


class Region(Resource):
    class Created(Aggregate.Created):
        class_version = 1
        region_id: str
        description: str
        parent_region_id: str | None

    @event(Created)
    def __init__(self, region_id: str, description: str, parent_region_id: str | None) -> None:
        self.region_id = check_name(region_id, "region id")
        self.description = description
        self.parent_region_id = parent_region_id

    @classmethod
    def create_id(cls, region_id: str, **_: Any) -> uuid.UUID:
        return region_uuid(region_id)

    def update(self, **changes: Any) -> dict[str, Any]:
        if changes.get("parent_region_id") == self.region_id:
            raise InvalidInput("A region cannot be its own parent.")
        return self._apply_changes(changes)


class Service(Resource):
    class Created(Aggregate.Created):
        class_version = 1
        type: str
        name: str
        description: str
        enabled: bool

    @event(Created)
    def __init__(self, type: str, name: str, description: str, enabled: bool) -> None:
        self.type = check_name(type, "service type")
        self.name = name
        self.description = description
        self.enabled = enabled

    def update(self, **changes: Any) -> dict[str, Any]:
        if "type" in changes:
            check_name(changes["type"], "service type")
        return self._apply_changes(changes)


def check_interface(interface: str) -> str:
    if interface not in INTERFACES:
        raise InvalidInput(
            f"Invalid interface '{interface}': must be one of {', '.join(INTERFACES)}."
        )
    return interface


class Endpoint(Resource):
    class Created(Aggregate.Created):
        class_version = 1
        service_id: uuid.UUID
        interface: str
        url: str
        region_id: str | None
        enabled: bool

    @event(Created)
    def __init__(
        self,
        service_id: uuid.UUID,
        interface: str,
        url: str,
        region_id: str | None,
        enabled: bool,
    ) -> None:
        self.service_id = service_id
        self.interface = check_interface(interface)
        self.url = check_name(url, "url")
        self.region_id = region_id
        self.enabled = enabled

    def update(self, **changes: Any) -> dict[str, Any]:
        if "interface" in changes:
            check_interface(changes["interface"])
        if "url" in changes:
            check_name(changes["url"], "url")
        return self._apply_changes(changes)
