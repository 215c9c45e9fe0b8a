"""What the network agent renders from a HostSpec, checked without a kernel."""

from __future__ import annotations

import re

from workers.network import dhcp_config, names, nat_rules, sg_rules, topology
from workers.network.desired import (
    DEVICE_OWNER_DHCP,
    DEVICE_OWNER_ROUTER_INTERFACE,
    AddressPair,
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

NET = "0f0f0f0f-0000-4000-8000-000000000001"
EXT = "0e0e0e0e-0000-4000-8000-000000000002"
SUB = SubnetSpec(
    "s1",
    NET,
    "10.0.0.0/24",
    4,
    "10.0.0.1",
    dns_nameservers=("192.0.2.53",),
    host_routes=(HostRoute("172.16.0.0/16", "10.0.0.254"),),
)
EXT_SUB = SubnetSpec("s-ext", EXT, "203.0.113.0/24", 4, "203.0.113.1", enable_dhcp=False)
VM = PortSpec(
    "p-vm-0000001",
    NET,
    "FA:16:3E:00:00:01",
    (FixedIp("s1", "10.0.0.5"),),
    "compute:nova",
    security_group_ids=("web",),
    allowed_address_pairs=(AddressPair("10.0.0.100", "fa:16:3e:00:00:99"),),
    binding_host="h1",
)
OTHER = PortSpec(
    "p-other-0002",
    NET,
    "fa:16:3e:00:00:02",
    (FixedIp("s1", "10.0.0.6"),),
    "compute:nova",
    security_group_ids=("web",),
    binding_host="h2",
)
DHCP = PortSpec(
    "p-dhcp-00003",
    NET,
    "fa:16:3e:00:00:03",
    (FixedIp("s1", "10.0.0.2"),),
    DEVICE_OWNER_DHCP,
    binding_host="h1",
)
ROUTER_PORT = PortSpec(
    "p-qr-000004",
    NET,
    "fa:16:3e:00:00:04",
    (FixedIp("s1", "10.0.0.1"),),
    DEVICE_OWNER_ROUTER_INTERFACE,
    binding_host="h1",
)
WEB = SecurityGroupSpec(
    "web",
    (
        RuleSpec("egress"),
        RuleSpec("ingress", "IPv4", "tcp", 80, 81),
        RuleSpec("ingress", "IPv4", "icmp", 8, 0, remote_ip_prefix="192.0.2.0/24"),
        RuleSpec("ingress", "IPv4", "6", 22, 22, remote_group_id="web"),
        RuleSpec("ingress", "IPv4", None, remote_group_id="empty"),
    ),
)
ROUTER = RouterSpec(
    "r1",
    external_network_id=EXT,
    external_ips=(FixedIp("s-ext", "203.0.113.10"),),
    interfaces=(RouterInterfaceSpec("p-qr-000004", "s1", "10.0.0.1"),),
    floating_ips=(FloatingIpSpec("203.0.113.20", "10.0.0.5", VM.id),),
)
SPEC = HostSpec(
    "h1",
    "192.0.2.1",
    (NetworkSpec(NET, 7, 1450, (SUB,)), NetworkSpec(EXT, None, 1500, (EXT_SUB,), external=True)),
    (VM, OTHER, DHCP, ROUTER_PORT),
    (ROUTER,),
    (WEB,),
    ("192.0.2.2",),
)


def test_interface_names_fit_the_kernel_limit_and_macs_are_stable() -> None:
    uuid = "12345678-1234-4234-8234-123456789abc"
    for name in (
        names.bridge(uuid),
        names.tap(uuid),
        names.router_interface(uuid),
        names.router_gateway(uuid),
        names.dhcp_device(uuid),
        names.vxlan(16_777_215),
    ):
        assert len(name) <= 15, name
    assert names.derived_mac("x") == names.derived_mac("x") != names.derived_mac("y")
    assert re.fullmatch(r"fa:16:3e(:[0-9a-f]{2}){3}", names.derived_mac("x"))


def test_plugs_cover_local_instances_dhcp_and_router_ports_only() -> None:
    plugs = topology.plugs(SPEC)
    assert set(plugs) == {
        names.tap(VM.id),
        names.tap(DHCP.id),
        names.tap("p-qr-000004"),
        names.tap("r1"),  # the gateway, named after the router without a port id
    }
    assert plugs[names.tap(VM.id)].external and not plugs[names.tap(DHCP.id)].external
    assert plugs[names.tap("r1")].network_id == EXT


def test_security_group_rules_become_nft_matches() -> None:
    rules = [r for rule in WEB.rules for r in sg_rules.render_rule(SPEC, rule)]
    assert rules == [
        "meta nfproto ipv4 return",
        "meta nfproto ipv4 meta l4proto tcp th dport 80-81 return",
        "meta nfproto ipv4 ip saddr 192.0.2.0/24 meta l4proto icmp icmp type 8 icmp code 0 return",
        "meta nfproto ipv4 ip saddr { 10.0.0.5, 10.0.0.6 } meta l4proto tcp th dport 22 return",
        # the rule naming an empty group admits nobody, so it is left out
    ]
    v6 = sg_rules.render_rule(SPEC, RuleSpec("egress", "IPv6", "icmp", remote_ip_prefix="::/0"))
    assert v6 == ["meta nfproto ipv6 ip6 daddr ::/0 meta l4proto ipv6-icmp return"]


def test_security_tables_mark_filter_and_stop_spoofing() -> None:
    rendered = sg_rules.render(SPEC)
    assert rendered is not None
    bridge, inet = rendered
    tap = names.tap(VM.id)
    assert f'iifname "{tap}" meta mark set meta mark or 0x10000' in bridge
    assert f'oifname "{tap}" meta mark set meta mark or 0x1' in bridge
    assert "ether saddr != { fa:16:3e:00:00:01, fa:16:3e:00:00:99 } drop" in bridge
    assert "arp saddr ip != { 0.0.0.0, 10.0.0.100, 10.0.0.5 } drop" in bridge
    assert "ip saddr != { 10.0.0.100, 10.0.0.5 } drop" in inet
    from_chain = inet.split("chain from_1")[1].split("chain to_1")[0]
    to_chain = inet.split("chain to_1")[1]
    assert from_chain.strip().splitlines()[-2].strip() == "drop"  # default deny
    assert "th dport 80-81" in to_chain and "th dport 80-81" not in from_chain
    # Only local instance ports with port security are filtered.
    assert "from_2" not in inet
    insecure = HostSpec("h1", "192.0.2.1", SPEC.networks, (DHCP, OTHER))
    assert sg_rules.render(insecure) is None


def test_router_nat_has_floating_ip_and_snat_for_internal_subnets() -> None:
    body = nat_rules.render(SPEC, ROUTER)
    gateway = names.router_gateway("r1")
    assert "ip daddr 203.0.113.20 dnat to 10.0.0.5" in body
    assert f'oifname "{gateway}" ip saddr 10.0.0.5 snat to 203.0.113.20' in body
    assert f'oifname "{gateway}" ip saddr {{ 10.0.0.0/24 }} snat to 203.0.113.10' in body
    no_snat = nat_rules.render(
        SPEC, RouterSpec("r2", EXT, ROUTER.external_ips, False, ROUTER.interfaces)
    )
    assert no_snat == ""
    assert nat_rules.render(SPEC, RouterSpec("r3", interfaces=ROUTER.interfaces)) == ""


def test_dhcp_serves_static_leases_with_gateway_dns_and_metadata_routes() -> None:
    config = dhcp_config.render(SPEC, DHCP)
    assert config.ranges == ["set:subnet0,10.0.0.0,static,255.255.255.0,86400s"]
    assert config.addresses == {"10.0.0.2/24"}
    assert config.hosts.splitlines() == [
        "fa:16:3e:00:00:02,host-10-0-0-6,10.0.0.6",
        "fa:16:3e:00:00:04,host-10-0-0-1,10.0.0.1",
        "fa:16:3e:00:00:01,host-10-0-0-5,10.0.0.5",
    ]
    assert "tag:subnet0,option:router,10.0.0.1" in config.opts
    assert "tag:subnet0,option:dns-server,192.0.2.53" in config.opts
    route = "169.254.169.254/32,10.0.0.1,172.16.0.0/16,10.0.0.254,0.0.0.0/0,10.0.0.1"
    assert f"tag:subnet0,option:classless-static-route,{route}" in config.opts


def test_dhcp_routes_metadata_to_itself_where_no_router_is_on_the_subnet() -> None:
    # A gateway address with no router behind it answers nobody: Neutron's
    # isolated metadata sends 169.254.169.254 to the DHCP port instead.
    no_router = HostSpec("h1", "192.0.2.1", SPEC.networks, (VM, OTHER, DHCP))
    config = dhcp_config.render(no_router, DHCP)
    route = "169.254.169.254/32,10.0.0.2,172.16.0.0/16,10.0.0.254,0.0.0.0/0,10.0.0.1"
    assert f"tag:subnet0,option:classless-static-route,{route}" in config.opts
    assert dhcp_config.metadata_via_dhcp(no_router, NET) == {"s1"}
    assert dhcp_config.metadata_via_dhcp(SPEC, NET) == set()


def test_dhcp_without_a_dhcp_enabled_subnet_serves_nothing() -> None:
    off = NetworkSpec(NET, 7, 1450, (SubnetSpec("s1", NET, "10.0.0.0/24", enable_dhcp=False),))
    spec = HostSpec("h1", "192.0.2.1", (off,), (VM, DHCP))
    assert dhcp_config.render(spec, DHCP).ranges == []
