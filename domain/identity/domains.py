from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.base import Resource, check_name
from domain.errors import Forbidden
from domain.identity.ids import DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME


class Domain(Resource):
    class Created(Aggregate.Created):
        class_version = 1
        name: str
        description: str
        enabled: bool
        tags: list[str]

    @event(Created)
    def __init__(self, name: str, description: str, enabled: bool, tags: list[str]) -> None:
        self.name = check_name(name)
        self.description = description
        self.enabled = enabled
        self.tags = tags

    def update(self, **changes: Any) -> dict[str, Any]:
        if "name" in changes:
            check_name(changes["name"])
        return self._apply_changes(changes)

    def delete(self) -> None:
        if self.enabled:
            raise Forbidden("Cannot delete a domain that is enabled, please disable it first.")
        super().delete()


def create_default_domain() -> Domain:
    """The domain every tool calls `default`: same id on every cloud."""
    return Domain._create(
        Domain.Created,
        id=DEFAULT_DOMAIN_ID,
        name=DEFAULT_DOMAIN_NAME,
        description="The default domain",
        enabled=True,
        tags=[],
    )
