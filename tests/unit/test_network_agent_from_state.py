"""projections.network.host_state's dicts map onto the agent's HostSpec."""

from __future__ import annotations

from typing import Any

from workers.network import sg_rules
from workers.network.desired import DEVICE_OWNER_DHCP, AddressPair, FixedIp, RuleSpec
from workers.network.from_state import spec_from_host_state

NET, EXT = "n-1", "n-ext"


def _state() -> dict[str, Any]:
    subnet = {
        "id": "s-1",
        "network_id": NET,
        "cidr": "10.0.0.0/24",
        "ip_version": 4,
        "gateway_ip": "10.0.0.1",
        "enable_dhcp": True,
        "dns_nameservers": ["192.0.2.53"],
        "host_routes": [{"destination": "172.16.0.0/16", "nexthop": "10.0.0.254"}],
        "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.254"}],
        "ipv6_ra_mode": None,
    }
    port = {
        "id": "p-1",
        "network_id": NET,
        "mac_address": "fa:16:3e:00:00:01",
        "fixed_ips": [{"subnet_id": "s-1", "ip_address": "10.0.0.5"}],
        "device_owner": "compute:nova",
        "device_id": "vm-1",
        "port_security_enabled": True,
        "security_group_ids": ["sg-1"],
        "allowed_address_pairs": [{"ip_address": "10.0.0.100"}],
        "binding_host": "h1",
        "status": "DOWN",
    }
    dhcp = {**port, "id": "p-dhcp", "device_owner": DEVICE_OWNER_DHCP, "binding_host": ""}
    return {
        "host": "h1",
        "networks": [
            {"id": NET, "vni": 7, "mtu": 1450, "external": False, "subnets": [subnet]},
            {"id": EXT, "vni": 8, "mtu": 1500, "external": True, "subnets": []},
        ],
        "ports": [port, dhcp],
        "routers": [
            {
                "id": "r-1",
                "external_network_id": EXT,
                "external_ips": [{"subnet_id": "s-ext", "ip_address": "203.0.113.10"}],
                "enable_snat": True,
                "gateway_port_id": "p-gw",
                "gateway_mac": "fa:16:3e:00:00:99",
                "interfaces": [
                    {
                        "port_id": "p-qr",
                        "network_id": NET,
                        "subnet_id": "s-1",
                        "ip_address": "10.0.0.1",
                        "mac_address": "fa:16:3e:00:00:98",
                    },
                ],
                "floating_ips": [
                    {
                        "id": "f-1",
                        "floating_ip": "203.0.113.20",
                        "fixed_ip": "10.0.0.5",
                        "port_id": "p-1",
                    },
                ],
            }
        ],
        "security_groups": [
            {
                "id": "sg-1",
                "rules": [
                    {
                        "id": "r1",
                        "direction": "ingress",
                        "ethertype": "IPv4",
                        "protocol": "tcp",
                        "port_range_min": 22,
                        "port_range_max": 22,
                        "remote_ip_prefix": None,
                        "remote_group_id": "sg-remote",
                    },
                    {
                        "id": "r2",
                        "direction": "egress",
                        "ethertype": "IPv4",
                        "protocol": None,
                        "port_range_min": None,
                        "port_range_max": None,
                        "remote_ip_prefix": None,
                        "remote_group_id": None,
                    },
                ],
                "member_ips": ["10.0.0.5"],
                "remote_group_members": {"sg-remote": ["10.9.9.9"]},
            }
        ],
    }


def test_host_state_maps_field_by_field() -> None:
    spec = spec_from_host_state(
        _state(),
        "192.0.2.1",
        peers=("192.0.2.1", "192.0.2.2"),
        physical_interfaces={"external": "eth1"},
    )
    assert spec.peers == ("192.0.2.2",)  # never a tunnel to itself
    net, ext = spec.networks
    assert (net.vni, ext.vni, ext.physical_interface) == (7, None, "eth1")
    subnet = net.subnets[0]
    assert subnet.host_routes[0].nexthop == "10.0.0.254"
    assert subnet.allocation_pools[0].start == "10.0.0.2"
    port = spec.port("p-1")
    assert port is not None
    assert port.fixed_ips == (FixedIp("s-1", "10.0.0.5"),)
    assert port.allowed_address_pairs == (AddressPair("10.0.0.100", None),)
    router = spec.routers[0]
    assert router.gateway_mac == "fa:16:3e:00:00:99"
    assert router.interfaces[0].mac_address == "fa:16:3e:00:00:98"
    assert router.floating_ips[0].fixed_ip == "10.0.0.5"
    assert [g.id for g in spec.security_groups] == ["sg-1", "sg-remote"]
    assert spec.security_groups[0].rules[1] == RuleSpec("egress")


def test_unbound_dhcp_ports_are_served_only_when_asked() -> None:
    assert spec_from_host_state(_state(), "192.0.2.1").port("p-dhcp").binding_host == ""  # type: ignore[union-attr]
    served = spec_from_host_state(_state(), "192.0.2.1", serve_unbound_dhcp=True)
    assert served.port("p-dhcp").binding_host == "h1"  # type: ignore[union-attr]


def test_remote_group_members_from_elsewhere_reach_the_rules() -> None:
    spec = spec_from_host_state(_state(), "192.0.2.1")
    ssh = spec.security_groups[0].rules[0]
    assert sg_rules.render_rule(spec, ssh) == [
        "meta nfproto ipv4 ip saddr { 10.9.9.9 } meta l4proto tcp th dport 22 return"
    ]
