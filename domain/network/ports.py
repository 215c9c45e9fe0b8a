"""A port: a virtual NIC's place on a network, its addresses and its binding.

A port is DOWN until the network agent of the host it is bound to reports
it wired; the agent's reports are events like any other change, so "why is
this port in ERROR" has an answer with a reason and a time.
"""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.network.addressing import parse_ip
from domain.network.base import NetworkResource, check_tags
from domain.network.errors import Invalid

PORT_STATUSES = ("ACTIVE", "DOWN", "BUILD", "ERROR")
ROUTER_INTERFACE = "network:router_interface"
ROUTER_GATEWAY = "network:router_gateway"
FLOATING_IP = "network:floatingip"
DHCP = "network:dhcp"


class Port(NetworkResource):
    class Created(Aggregate.Created):
        class_version = 1
        network_id: str
        project_id: str
        name: str
        description: str
        admin_state_up: bool
        mac_address: str
        fixed_ips: list[dict[str, str]]
        device_id: str
        device_owner: str
        security_groups: list[str]
        allowed_address_pairs: list[dict[str, str]]
        port_security_enabled: bool
        binding_host_id: str
        tags: list[str]

    # `id` is chosen by the caller: claims (VNI, MAC) and addresses name the
    # resource before it exists, in the same transaction.
    @event(Created)
    def __init__(
        self,
        id: uuid.UUID,
        network_id: str,
        project_id: str,
        name: str,
        description: str,
        admin_state_up: bool,
        mac_address: str,
        fixed_ips: list[dict[str, str]],
        device_id: str,
        device_owner: str,
        security_groups: list[str],
        allowed_address_pairs: list[dict[str, str]],
        port_security_enabled: bool,
        binding_host_id: str,
        tags: list[str],
    ) -> None:
        self.network_id = network_id
        self.project_id = project_id
        self.name = name
        self.description = description
        self.admin_state_up = admin_state_up
        self.mac_address = mac_address
        self.fixed_ips = fixed_ips
        self.device_id = device_id
        self.device_owner = device_owner
        self.security_groups = security_groups
        self.allowed_address_pairs = allowed_address_pairs
        self.port_security_enabled = port_security_enabled
        self.binding_host_id = binding_host_id
        self.tags = check_tags(tags)
        self.status = "DOWN"
        self.status_reason = ""
        self.binding_vif_type = "unbound"

    @staticmethod
    def check_security(
        port_security_enabled: bool, security_groups: list[str], pairs: list[dict[str, str]]
    ) -> None:
        if not port_security_enabled and (security_groups or pairs):
            raise Invalid(
                "Port has security group or allowed address pairs associated; "
                "port security must be enabled to use them.",
                "PortSecurityAndIPRequiredForSecurityGroups",
            )

    @staticmethod
    def check_address_pairs(pairs: list[Any]) -> list[dict[str, str]]:
        out = []
        for pair in pairs:
            if not isinstance(pair, dict) or "ip_address" not in pair:
                raise Invalid(f"Allowed address pair {pair} needs an ip_address.")
            address = str(pair["ip_address"])
            try:
                parse_ip(address.split("/", maxsplit=1)[0])
            except Invalid as error:
                raise Invalid(f"'{address}' is not a valid IP address or CIDR.") from error
            entry = {"ip_address": address}
            if pair.get("mac_address"):
                entry["mac_address"] = str(pair["mac_address"])
            out.append(entry)
        return out

    def update(self, expected_revision: int | None = None, **changes: Any) -> dict[str, Any]:
        self.check_security(
            changes.get("port_security_enabled", self.port_security_enabled),
            changes.get("security_groups", self.security_groups),
            changes.get("allowed_address_pairs", self.allowed_address_pairs),
        )
        if "binding_host_id" in changes and not changes["binding_host_id"]:
            # Unbinding a port takes it off its host: it is down again.
            changes.update(binding_vif_type="unbound", status="DOWN")
        return super().update(expected_revision, **changes)

    def bind(self, host: str, vif_type: str) -> None:
        """The agent of `host` has wired the port: it carries traffic now."""
        if not host:
            raise Invalid("A port is bound to a named host.")
        self.record(binding_host_id=host, binding_vif_type=vif_type, status="ACTIVE")

    def report_status(self, status: str, reason: str = "") -> None:
        if status not in PORT_STATUSES:
            raise Invalid(f"'{status}' is not a port status.")
        self.record(status=status, status_reason=reason)

    @property
    def subnet_ids(self) -> list[str]:
        return [entry["subnet_id"] for entry in self.fixed_ips]
