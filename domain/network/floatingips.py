"""A floating IP: an address of an external network, optionally mapped to a port.

The address itself is allocated from the external subnet (one of its
address blocks holds it, like any other); the floating IP records which fixed address of which
port it is translated to, and through which router.
"""

from __future__ import annotations

import uuid

from eventsourcing.domain import Aggregate, event

from domain.network.base import NetworkResource, check_tags


class FloatingIp(NetworkResource):
    class Created(Aggregate.Created):
        class_version = 1
        project_id: str
        floating_network_id: str
        subnet_id: str
        floating_ip_address: str
        description: str
        tags: list[str]

    # `id` is chosen by the caller: claims (VNI, MAC) and addresses name the
    # resource before it exists, in the same transaction.
    @event(Created)
    def __init__(
        self,
        id: uuid.UUID,
        project_id: str,
        floating_network_id: str,
        subnet_id: str,
        floating_ip_address: str,
        description: str,
        tags: list[str],
    ) -> None:
        self.project_id = project_id
        self.floating_network_id = floating_network_id
        self.subnet_id = subnet_id
        self.floating_ip_address = floating_ip_address
        self.description = description
        self.tags = check_tags(tags)
        self.port_id: str | None = None
        self.fixed_ip_address: str | None = None
        self.router_id: str | None = None
        self.status = "DOWN"

    def associate(
        self,
        port_id: str | None,
        fixed_ip_address: str | None,
        router_id: str | None,
        expected_revision: int | None = None,
    ) -> None:
        # Neutron shows an associated floating IP as ACTIVE once it is set up;
        # the agent may report otherwise later.
        self.update(
            expected_revision,
            port_id=port_id,
            fixed_ip_address=fixed_ip_address if port_id else None,
            router_id=router_id if port_id else None,
            status="ACTIVE" if port_id else "DOWN",
        )
