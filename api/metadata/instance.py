"""From a proxy's identity to the instance: address + router/network → port
→ device_id → server, and everything the metadata documents show of it."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from infra.database import Database
from infra.metadata_signing import Identity
from projections.compute.queries import ComputeQueries
from projections.network import instance_lookup as lookup


@dataclass(frozen=True)
class Instance:
    server: dict[str, Any]  # the compute read model's document
    address: str  # the fixed IP the request came from
    ports: list[dict[str, Any]] = field(default_factory=list)
    subnets: dict[str, dict[str, Any]] = field(default_factory=dict)
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    floating_ips: list[str] = field(default_factory=list)
    key_type: str = "ssh"
    dhcp_domain: str = ""

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = self.server["body"]
        return body

    @property
    def uuid(self) -> str:
        return str(self.server["id"])

    @property
    def hostname(self) -> str:
        """Nova's: the sanitized name, with its dhcp_domain when one is set."""
        name = str(self.body.get("hostname") or self.server["name"])
        return f"{name}.{self.dhcp_domain}" if self.dhcp_domain else name

    @property
    def availability_zone(self) -> str:
        return str(self.server.get("availability_zone") or "nova")

    @property
    def user_data(self) -> bytes | None:
        raw = self.body.get("user_data")
        if not raw:
            return None
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return str(raw).encode()  # the API validated it; show what is stored

    @property
    def key(self) -> tuple[str, str] | None:
        name, data = self.body.get("key_name"), self.body.get("key_data")
        return (str(name), str(data)) if name and data else None


def resolve(db: Database, who: Identity, dhcp_domain: str) -> Instance | None:
    """The instance that sent the request, or None when no server holds it."""
    if who.kind == "router":
        network_ids = lookup.networks_of_router(db, who.resource_id)
    else:
        network_ids = [who.resource_id]
    port = lookup.instance_port(db, who.address, network_ids)
    if port is None:
        return None
    compute = ComputeQueries(db)
    server = compute.server(str(port["device_id"]), None)
    if server is None:
        return None
    ports = lookup.ports_of_device(db, server["id"])
    # In the order the server asked for them: its NIC order in the guest.
    order = [p.get("port_id") for p in server["body"].get("ports", [])]
    ports.sort(key=lambda p: order.index(p["id"]) if p["id"] in order else len(order))
    subnet_ids = sorted({f["subnet_id"] for p in ports for f in p.get("fixed_ips", [])})
    key_type = "ssh"
    key_name = server["body"].get("key_name")
    if key_name:
        keypair = compute.keypair(str(server["user_id"]), str(key_name))
        key_type = str((keypair or {}).get("type") or "ssh")
    return Instance(
        server=server,
        address=who.address,
        ports=ports,
        subnets=lookup.subnets(db, subnet_ids),
        networks=lookup.networks(db, sorted({str(p["network_id"]) for p in ports})),
        floating_ips=lookup.floating_ips_of_ports(db, [p["id"] for p in ports]),
        key_type=key_type,
        dhcp_domain=dhcp_domain,
    )
