"""A tenant network: its settings, its VXLAN VNI and the subnets it holds.

The network keeps the CIDR of each of its subnets so that two subnets with
overlapping ranges can never both be added: concurrent subnet creations
write the same network aggregate, and the loser is retried against the
winner's state.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.network.base import NetworkResource, check_tags
from domain.network.errors import Invalid

VNI_MIN, VNI_MAX = 1, (1 << 24) - 1
DEFAULT_MTU = 1450  # 1500 minus the VXLAN overhead


class Network(NetworkResource):
    class Created(Aggregate.Created):
        class_version = 1
        project_id: str
        name: str
        description: str
        admin_state_up: bool
        shared: bool
        external: bool
        mtu: int
        port_security_enabled: bool
        segmentation_id: int
        tags: list[str]

    # `id` is chosen by the caller: claims (VNI, MAC) and addresses name the
    # resource before it exists, in the same transaction.
    @event(Created)
    def __init__(
        self,
        id: uuid.UUID,
        project_id: str,
        name: str,
        description: str,
        admin_state_up: bool,
        shared: bool,
        external: bool,
        mtu: int,
        port_security_enabled: bool,
        segmentation_id: int,
        tags: list[str],
    ) -> None:
        self.project_id = project_id
        self.name = name
        self.description = description
        self.admin_state_up = admin_state_up
        self.shared = shared
        self.external = external
        self.mtu = mtu
        self.port_security_enabled = port_security_enabled
        self.segmentation_id = segmentation_id
        self.tags = check_tags(tags)
        self.subnets: dict[str, str] = {}

    @staticmethod
    def validate(mtu: int | None = None, segmentation_id: int | None = None) -> None:
        if mtu is not None and not 68 <= mtu <= 9000:
            raise Invalid(f"MTU {mtu} is outside 68..9000.")
        if segmentation_id is not None and not VNI_MIN <= segmentation_id <= VNI_MAX:
            raise Invalid(f"Segmentation id {segmentation_id} is not a valid VXLAN VNI.")

    def update(self, expected_revision: int | None = None, **changes: Any) -> dict[str, Any]:
        self.validate(mtu=changes.get("mtu"))
        return super().update(expected_revision, **changes)

    class SubnetAdded(Aggregate.Event):
        class_version = 1
        subnet_id: str
        cidr: str

    class SubnetRemoved(Aggregate.Event):
        class_version = 1
        subnet_id: str

    def add_subnet(self, subnet_id: str, cidr: str) -> None:
        self.require_alive()
        new = ipaddress.ip_network(cidr)
        for other_id, other in self.subnets.items():
            existing = ipaddress.ip_network(other)
            if existing.version == new.version and existing.overlaps(new):
                raise Invalid(
                    f"Requested subnet with cidr: {cidr} for network: {self.id} overlaps "
                    f"with another subnet ({other_id})."
                )
        self._add_subnet(subnet_id, cidr)

    @event(SubnetAdded)
    def _add_subnet(self, subnet_id: str, cidr: str) -> None:
        self.subnets = {**self.subnets, subnet_id: cidr}
        self.revision_number += 1

    def remove_subnet(self, subnet_id: str) -> None:
        if subnet_id in self.subnets:
            self._remove_subnet(subnet_id)

    @event(SubnetRemoved)
    def _remove_subnet(self, subnet_id: str) -> None:
        self.subnets = {k: v for k, v in self.subnets.items() if k != subnet_id}
        self.revision_number += 1

    def visible_to(self, project_id: str | None, is_admin: bool) -> bool:
        return is_admin or self.shared or self.external or self.project_id == project_id
