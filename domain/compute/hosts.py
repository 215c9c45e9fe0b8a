"""Compute hosts: their inventory and the resources servers have claimed on them.

A claim is an event on the host aggregate, checked against the host's
capacity when it is made. Two boots racing for the last room on a host both
try to write the same next version of that host; the database lets one
through and the bus replays the other on the new state, where the check
fails or picks another host — so a host can never be overcommitted.
"""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, InvalidInput

HOST_NAMESPACE = uuid.UUID("3c6f1f0e-9b7e-4d8a-8f0c-51c1e6a7b2d4")
REGISTRY_ID = uuid.uuid5(HOST_NAMESPACE, "\x1fregistry")
RESOURCES = ("vcpus", "memory_mb", "disk_gb")


def host_id(hostname: str) -> uuid.UUID:
    """Hosts are named by their hostname; the id follows, so a host that
    registers again (a restarted agent) finds its own aggregate."""
    return uuid.uuid5(HOST_NAMESPACE, hostname)


def check_inventory(inventory: dict[str, Any]) -> dict[str, Any]:
    for key in RESOURCES:
        if int(inventory.get(key, -1)) < 0:
            raise InvalidInput(f"Host inventory needs a non-negative {key}.")
    for key in ("cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio"):
        if float(inventory.get(key, 1.0)) <= 0:
            raise InvalidInput(f"{key} must be positive.")
    return inventory


class Host(Aggregate):
    class Created(Aggregate.Created):
        class_version = 1
        hostname: str
        inventory: dict[str, Any]

    @event(Created)
    def __init__(self, hostname: str, inventory: dict[str, Any]) -> None:
        self.hostname = hostname
        self.inventory = check_inventory(inventory)
        self.claims: dict[str, dict[str, int]] = {}

    @classmethod
    def create_id(cls, hostname: str, **_: Any) -> uuid.UUID:
        return host_id(hostname)

    def capacity(self, resource: str) -> int:
        """Schedulable amount: (total - reserved) * allocation ratio."""
        ratio_key = {"vcpus": "cpu", "memory_mb": "ram", "disk_gb": "disk"}[resource]
        ratio = float(self.inventory.get(f"{ratio_key}_allocation_ratio", 1.0))
        reserved = int(self.inventory.get(f"reserved_{resource}", 0))
        return int((int(self.inventory[resource]) - reserved) * ratio)

    def used(self, resource: str) -> int:
        return sum(claim.get(resource, 0) for claim in self.claims.values())

    def free(self, resource: str) -> int:
        return self.capacity(resource) - self.used(resource)

    def fits(self, wanted: dict[str, int]) -> bool:
        return all(self.free(r) >= int(wanted.get(r, 0)) for r in RESOURCES)

    class InventoryChanged(Aggregate.Event):
        class_version = 1
        inventory: dict[str, Any]

    def update_inventory(self, inventory: dict[str, Any]) -> None:
        if inventory != self.inventory:
            self._inventory(check_inventory(inventory))

    @event(InventoryChanged)
    def _inventory(self, inventory: dict[str, Any]) -> None:
        self.inventory = inventory

    class Claimed(Aggregate.Event):
        class_version = 1
        server_id: str
        resources: dict[str, int]

    def claim(self, server_id: str, resources: dict[str, int]) -> None:
        if server_id in self.claims:
            return
        if not self.fits(resources):
            raise Conflict(f"Host {self.hostname} has no room for server {server_id}.")
        self._claimed(server_id, resources)

    @event(Claimed)
    def _claimed(self, server_id: str, resources: dict[str, int]) -> None:
        self.claims = {**self.claims, server_id: dict(resources)}

    class ClaimReleased(Aggregate.Event):
        class_version = 1
        server_id: str

    def release(self, server_id: str) -> None:
        if server_id in self.claims:
            self._released(server_id)

    @event(ClaimReleased)
    def _released(self, server_id: str) -> None:
        self.claims = {k: v for k, v in self.claims.items() if k != server_id}


class HostRegistry(Aggregate):
    """The names of every registered host, in registration order.

    The scheduler loads it to know which host aggregates to consider, inside
    the command's own transaction — no read model is trusted for placement.
    Its position in the list is the host's integer hypervisor id (Nova < 2.53).
    """

    class Created(Aggregate.Created):
        class_version = 1

    @event(Created)
    def __init__(self) -> None:
        self.hostnames: list[str] = []

    @classmethod
    def create_id(cls, **_: Any) -> uuid.UUID:
        return REGISTRY_ID

    class HostAdded(Aggregate.Event):
        class_version = 1
        hostname: str

    def add(self, hostname: str) -> None:
        if hostname not in self.hostnames:
            self._added(hostname)

    @event(HostAdded)
    def _added(self, hostname: str) -> None:
        self.hostnames = [*self.hostnames, hostname]
