"""A router: interfaces on tenant subnets and an optional external gateway.

The router records which port connects it to which subnet, so a subnet is
attached at most once and a router with interfaces cannot be deleted; the
ports themselves (and their addresses) are saved in the same transaction.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.network.base import NetworkResource, check_tags
from domain.network.errors import InUse, Invalid

ROUTER_STATUSES = ("ACTIVE", "DOWN", "BUILD", "ERROR")


class Router(NetworkResource):
    class Created(Aggregate.Created):
        class_version = 1
        project_id: str
        name: str
        description: str
        admin_state_up: bool
        tags: list[str]

    @event(Created)
    def __init__(
        self, project_id: str, name: str, description: str, admin_state_up: bool, tags: list[str]
    ) -> None:
        self.project_id = project_id
        self.name = name
        self.description = description
        self.admin_state_up = admin_state_up
        self.tags = check_tags(tags)
        self.status = "ACTIVE"
        self.status_reason = ""
        self.routes: list[dict[str, str]] = []
        # {"network_id", "port_id", "enable_snat"} or None
        self.gateway: dict[str, Any] | None = None
        # port id -> subnet id
        self.interfaces: dict[str, str] = {}

    class InterfaceAdded(Aggregate.Event):
        class_version = 1
        port_id: str
        subnet_id: str

    class InterfaceRemoved(Aggregate.Event):
        class_version = 1
        port_id: str

    def add_interface(self, port_id: str, subnet_id: str) -> None:
        self.require_alive()
        if subnet_id in self.interfaces.values():
            raise Invalid(
                f"Router already has a port on subnet {subnet_id}.",
                "BadRequest",
            )
        self._add_interface(port_id, subnet_id)

    @event(InterfaceAdded)
    def _add_interface(self, port_id: str, subnet_id: str) -> None:
        self.interfaces = {**self.interfaces, port_id: subnet_id}
        self.revision_number += 1

    def remove_interface(self, port_id: str) -> None:
        self.require_alive()
        self._remove_interface(port_id)

    @event(InterfaceRemoved)
    def _remove_interface(self, port_id: str) -> None:
        self.interfaces = {k: v for k, v in self.interfaces.items() if k != port_id}
        self.revision_number += 1

    def port_on(self, subnet_id: str) -> str | None:
        return next((p for p, s in self.interfaces.items() if s == subnet_id), None)

    def set_gateway(self, gateway: dict[str, Any] | None) -> None:
        self.update(gateway=gateway)

    def report_status(self, status: str, reason: str = "") -> None:
        if status not in ROUTER_STATUSES:
            raise Invalid(f"'{status}' is not a router status.")
        self.record(status=status, status_reason=reason)

    def delete(self) -> None:
        if self.interfaces:
            raise InUse(
                f"Router {self.id} still has ports; remove its interfaces first.", "RouterInUse"
            )
        super().delete()
