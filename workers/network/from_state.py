"""Build a HostSpec from projections.network.host_state's plain dicts.

The projection already names its keys after desired.py; what it cannot
know is per-host configuration, passed in here: this host's VXLAN endpoint
and its peers, which host link carries each external (flat) network, and
whether this host serves DHCP for ports nobody bound yet (the embedded
profile's single host does; a multi-host cloud binds DHCP ports to the
hosts that run them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workers.network.desired import (
    DEVICE_OWNER_DHCP,
    AddressPair,
    AllocationPool,
    FixedIp,
    FloatingIpSpec,
    HostRoute,
    HostSpec,
    NetworkSpec,
    PortSpec,
    RouterInterfaceSpec,
    RouterSpec,
    RuleSpec,
    SecurityGroupSpec,
    SubnetSpec,
)

Doc = Mapping[str, Any]


def spec_from_host_state(
    state: Doc,
    local_ip: str,
    peers: tuple[str, ...] = (),
    physical_interfaces: Mapping[str, str] | None = None,
    serve_unbound_dhcp: bool = False,
) -> HostSpec:
    """`physical_interfaces`: network id (or "external" for every external
    network) -> host link to plug into that network's bridge."""
    host: str = state["host"]
    links = dict(physical_interfaces or {})
    return HostSpec(
        host=host,
        local_ip=local_ip,
        networks=tuple(_network(n, links) for n in state.get("networks", [])),
        ports=tuple(_port(p, host, serve_unbound_dhcp) for p in state.get("ports", [])),
        routers=tuple(_router(r) for r in state.get("routers", [])),
        security_groups=_groups(state.get("security_groups", [])),
        peers=tuple(p for p in peers if p != local_ip),
    )


def _network(doc: Doc, links: dict[str, str]) -> NetworkSpec:
    external = bool(doc.get("external"))
    physical = links.get(doc["id"]) or (links.get("external") if external else None)
    return NetworkSpec(
        id=doc["id"],
        # A network carried by a physical link is flat: no tunnel.
        vni=None if physical else doc.get("vni"),
        mtu=doc.get("mtu") or 1450,
        subnets=tuple(_subnet(s) for s in doc.get("subnets", [])),
        external=external,
        physical_interface=physical,
    )


def _subnet(doc: Doc) -> SubnetSpec:
    return SubnetSpec(
        id=doc["id"],
        network_id=doc["network_id"],
        cidr=doc["cidr"],
        ip_version=doc.get("ip_version") or 4,
        gateway_ip=doc.get("gateway_ip"),
        enable_dhcp=bool(doc.get("enable_dhcp", True)),
        dns_nameservers=tuple(doc.get("dns_nameservers") or ()),
        host_routes=tuple(
            HostRoute(r["destination"], r["nexthop"]) for r in doc.get("host_routes") or ()
        ),
        allocation_pools=tuple(
            AllocationPool(p["start"], p["end"]) for p in doc.get("allocation_pools") or ()
        ),
        ipv6_ra_mode=doc.get("ipv6_ra_mode"),
        ipv6_address_mode=doc.get("ipv6_address_mode"),
    )


def _fixed(items: Any) -> tuple[FixedIp, ...]:
    return tuple(FixedIp(f["subnet_id"], f["ip_address"]) for f in items or ())


def _port(doc: Doc, host: str, serve_unbound_dhcp: bool) -> PortSpec:
    binding = doc.get("binding_host") or ""
    if serve_unbound_dhcp and not binding and doc.get("device_owner") == DEVICE_OWNER_DHCP:
        binding = host
    return PortSpec(
        id=doc["id"],
        network_id=doc["network_id"],
        mac_address=doc["mac_address"],
        fixed_ips=_fixed(doc.get("fixed_ips")),
        device_owner=doc.get("device_owner") or "",
        device_id=doc.get("device_id") or "",
        port_security_enabled=bool(doc.get("port_security_enabled", True)),
        security_group_ids=tuple(doc.get("security_group_ids") or ()),
        allowed_address_pairs=tuple(
            AddressPair(p["ip_address"], p.get("mac_address"))
            for p in doc.get("allowed_address_pairs") or ()
        ),
        binding_host=binding,
    )


def _router(doc: Doc) -> RouterSpec:
    return RouterSpec(
        id=doc["id"],
        external_network_id=doc.get("external_network_id"),
        external_ips=_fixed(doc.get("external_ips")),
        enable_snat=bool(doc.get("enable_snat", True)),
        interfaces=tuple(
            RouterInterfaceSpec(i["port_id"], i["subnet_id"], i["ip_address"], i.get("mac_address"))
            for i in doc.get("interfaces", [])
        ),
        floating_ips=tuple(
            FloatingIpSpec(f["floating_ip"], f["fixed_ip"], f["port_id"])
            for f in doc.get("floating_ips", [])
            if f.get("fixed_ip")
        ),
        gateway_port_id=doc.get("gateway_port_id"),
        gateway_mac=doc.get("gateway_mac"),
        routes=tuple(HostRoute(r["destination"], r["nexthop"]) for r in doc.get("routes") or ()),
    )


def _groups(docs: list[Doc]) -> tuple[SecurityGroupSpec, ...]:
    groups = {d["id"]: _group(d) for d in docs}
    # Remote groups no local port uses still need their members' addresses.
    for doc in docs:
        for group_id, ips in (doc.get("remote_group_members") or {}).items():
            if group_id not in groups:
                groups[group_id] = SecurityGroupSpec(group_id, (), tuple(ips))
    return tuple(groups[k] for k in sorted(groups))


def _group(doc: Doc) -> SecurityGroupSpec:
    return SecurityGroupSpec(
        id=doc["id"],
        rules=tuple(
            RuleSpec(
                direction=r["direction"],
                ethertype=r.get("ethertype") or "IPv4",
                protocol=None if r.get("protocol") in (None, "", "any") else str(r["protocol"]),
                port_range_min=r.get("port_range_min"),
                port_range_max=r.get("port_range_max"),
                remote_ip_prefix=r.get("remote_ip_prefix"),
                remote_group_id=r.get("remote_group_id"),
            )
            for r in doc.get("rules", [])
        ),
        member_ips=tuple(doc.get("member_ips") or ()),
    )
