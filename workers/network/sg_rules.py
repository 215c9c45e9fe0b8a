"""Security groups rendered as two nftables tables of the host namespace.

Why two: the kernel here has no conntrack for the `bridge` family, but it
has br_netfilter, which hands bridged IP packets to the `inet` forward hook
where conntrack works (the OVS driver's per-port bridges, see hybrid,
are Linux bridges too). That hook only sees the bridge, not which port a
packet came from or goes to, so a `bridge` table first tags each packet's
mark with the numbers of its ingress port (high 16 bits) and egress port
(low 16 bits); the `inet` table then jumps to that port's chains. Both are
swapped in one transaction, so renumbering ports is safe. The `bridge`
table also does the stateless anti-spoofing (source MAC, ARP sender).

Per port, "from" holds the egress rules (traffic the instance sends) and
"to" the ingress rules; accepted traffic `return`s so a packet between two
filtered ports passes both, and each chain ends in drop.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from workers.network import names
from workers.network.desired import HostSpec, PortSpec, RuleSpec
from workers.network.topology import is_instance_port

PROTOCOLS = {"1": "icmp", "6": "tcp", "17": "udp", "58": "ipv6-icmp", "132": "sctp"}
ND_FROM = ["nd-router-solicit", "nd-neighbor-solicit", "nd-neighbor-advert", "mld2-listener-report"]
ND_TO = ["nd-router-advert", "nd-neighbor-solicit", "nd-neighbor-advert", "mld-listener-query"]
PORT_PROTOCOLS = {"tcp", "udp", "sctp", "udplite", "dccp"}


@dataclass(frozen=True)
class FilteredPort:
    number: int  # 1..65535, its mark bits
    port: PortSpec
    device: str


def filtered_ports(spec: HostSpec) -> list[FilteredPort]:
    ports = [
        p
        for p in sorted(spec.local_ports(), key=lambda p: p.id)
        if is_instance_port(p) and p.port_security_enabled
    ]
    return [FilteredPort(i, p, names.tap(p.id)) for i, p in enumerate(ports, start=1)]


def render(spec: HostSpec, port_bridges: bool = False) -> tuple[str, str] | None:
    """(bridge table body, inet table body), or None with no filtered port.

    `port_bridges`: each tap has a bridge of its own (the OVS driver's
    hybrid plugging), which gives each port a conntrack zone of its own.
    """
    ports = filtered_ports(spec)
    if not ports:
        return None
    inet = _inet_table(spec, ports)
    if port_bridges:
        inet = _zones(ports) + "\n" + inet
    return _bridge_table(ports), inet


def _zones(ports: list[FilteredPort]) -> str:
    """A conntrack zone per port bridge, set before conntrack sees the packet.

    A packet between two ports of one host crosses two port bridges, so
    conntrack sees it twice. In one shared zone the first crossing would
    confirm a connection the second then drops, and the receiver could
    answer it as "established" past its own egress rules; per-port zones
    give each port's filter its own view, as one Linux bridge crossing does.
    br_netfilter shows the bridge as the packet's input device.
    """
    rules = ["\t\ttype filter hook prerouting priority raw; policy accept;"]
    for fp in ports:
        rules.append(f'\t\tiifname "{names.hybrid_bridge(fp.port.id)}" ct zone set {fp.number}')
    return "\tchain prerouting {\n" + "\n".join(rules) + "\n\t}"


def _allowed(port: PortSpec) -> tuple[list[str], list[str], list[str]]:
    """Allowed source MACs, IPv4 and IPv6 addresses/prefixes of a port."""
    macs = {port.mac_address.lower()}
    ips = [f.ip_address for f in port.fixed_ips]
    for pair in port.allowed_address_pairs:
        macs.add((pair.mac_address or port.mac_address).lower())
        ips.append(pair.ip_address)
    v4 = sorted({ip for ip in ips if ipaddress.ip_network(ip, strict=False).version == 4})
    v6 = sorted({ip for ip in ips if ipaddress.ip_network(ip, strict=False).version == 6})
    return sorted(macs), v4, v6


def _set(items: list[str]) -> str:
    return "{ " + ", ".join(items) + " }"


def _bridge_table(ports: list[FilteredPort]) -> str:
    pre = ["\t\ttype filter hook prerouting priority -300; policy accept;"]
    # Clear the mark only of packets from or to a Strata tap: our bits must
    # start at zero, and other users of marks on this host are left alone.
    fwd = [
        "\t\ttype filter hook forward priority -300; policy accept;",
        f'\t\tiifname "{names.TAP}*" meta mark set 0',
        f'\t\toifname "{names.TAP}*" meta mark set 0',
    ]
    chains: list[str] = []
    for fp in ports:
        macs, v4, _ = _allowed(fp.port)
        pre.append(f'\t\tiifname "{fp.device}" jump spoof_{fp.number}')
        fwd.append(f'\t\tiifname "{fp.device}" meta mark set meta mark or {fp.number << 16:#x}')
        fwd.append(f'\t\toifname "{fp.device}" meta mark set meta mark or {fp.number:#x}')
        rules = [f"\t\tether saddr != {_set(macs)} drop"]
        arp_ips = ["0.0.0.0", *v4]  # 0.0.0.0: ARP probes (RFC 5227)
        rules.append(f"\t\tarp saddr ip != {_set(arp_ips)} drop")
        chains.append(f"\tchain spoof_{fp.number} {{\n" + "\n".join(rules) + "\n\t}")
    return "\n".join(
        ["\tchain prerouting {", *pre, "\t}", "\tchain forward {", *fwd, "\t}", *chains]
    )


def _inet_table(spec: HostSpec, ports: list[FilteredPort]) -> str:
    head = ["\t\ttype filter hook forward priority 0; policy accept;"]
    head.append(
        "\t\tmeta mark and 0xffff0000 vmap { "
        + ", ".join(f"{fp.number << 16:#x} : jump from_{fp.number}" for fp in ports)
        + " }"
    )
    head.append(
        "\t\tmeta mark and 0xffff vmap { "
        + ", ".join(f"{fp.number:#x} : jump to_{fp.number}" for fp in ports)
        + " }"
    )
    chains = ["\tchain forward {\n" + "\n".join(head) + "\n\t}"]
    for fp in ports:
        chains.append(_port_chain(spec, fp, "egress"))
        chains.append(_port_chain(spec, fp, "ingress"))
    return "\n".join(chains)


def _port_chain(spec: HostSpec, fp: FilteredPort, direction: str) -> str:
    _, v4, v6 = _allowed(fp.port)
    rules: list[str] = []
    if direction == "egress":
        # DHCP discovery happens before the instance has its address.
        rules.append("udp sport 68 udp dport 67 return")
        rules.append("ip saddr != " + (_set(v4) if v4 else "{ 0.0.0.0/32 }") + " drop")
        # "::" is the source of duplicate address detection probes.
        rules.append("ip6 saddr != " + _set(["::", "fe80::/10", *v6]) + " drop")
        # Instances must not act as DHCP servers or IPv6 routers.
        rules.append("udp sport 67 udp dport 68 drop")
        rules.append("udp sport 547 udp dport 546 drop")
        rules.append("icmpv6 type nd-router-advert drop")
        rules.append(f"icmpv6 type {_set(ND_FROM)} return")
        rules.append("udp sport 546 udp dport 547 return")
    rules += ["ct state established,related return", "ct state invalid drop"]
    if direction == "ingress":
        rules.append("udp sport 67 udp dport 68 return")
        rules.append("udp sport 547 udp dport 546 return")
        # Neighbour discovery is IPv6's ARP: without it nothing works.
        rules.append(f"icmpv6 type {_set(ND_TO)} return")
    groups = {g.id: g for g in spec.security_groups}
    for group_id in fp.port.security_group_ids:
        group = groups.get(group_id)
        for rule in group.rules if group else ():
            if rule.direction == direction:
                rules += render_rule(spec, rule)
    rules.append("drop")
    name = ("from_" if direction == "egress" else "to_") + str(fp.number)
    return f"\tchain {name} {{\n" + "".join(f"\t\t{r}\n" for r in rules) + "\t}"


def render_rule(spec: HostSpec, rule: RuleSpec) -> list[str]:
    """One security group rule as nft rules (none when it can match nothing)."""
    v6 = rule.ethertype == "IPv6"
    family = "ip6" if v6 else "ip"
    parts = ["meta nfproto " + ("ipv6" if v6 else "ipv4")]
    remote = "saddr" if rule.direction == "ingress" else "daddr"
    if rule.remote_ip_prefix:
        parts.append(f"{family} {remote} {rule.remote_ip_prefix}")
    elif rule.remote_group_id:
        members = _group_addresses(spec, rule.remote_group_id, 6 if v6 else 4)
        if not members:
            return []  # an empty group admits nobody
        parts.append(f"{family} {remote} {_set(members)}")
    protocol = PROTOCOLS.get(rule.protocol or "", rule.protocol)
    if protocol in {"icmp", "ipv6-icmp", "icmpv6"}:
        icmp = "icmpv6" if v6 else "icmp"
        parts.append(f"meta l4proto {'ipv6-icmp' if v6 else 'icmp'}")
        if rule.port_range_min is not None:
            parts.append(f"{icmp} type {rule.port_range_min}")
            if rule.port_range_max is not None:
                parts.append(f"{icmp} code {rule.port_range_max}")
    elif protocol:
        parts.append(f"meta l4proto {protocol}")
        if protocol in PORT_PROTOCOLS and rule.port_range_min is not None:
            high = rule.port_range_max or rule.port_range_min
            ports = (
                str(rule.port_range_min)
                if high == rule.port_range_min
                else f"{rule.port_range_min}-{high}"
            )
            parts.append(f"th dport {ports}")
    return [" ".join(parts) + " return"]


def _group_addresses(spec: HostSpec, group_id: str, version: int) -> list[str]:
    addresses = {
        f.ip_address
        for port in spec.ports
        if group_id in port.security_group_ids
        for f in port.fixed_ips
    }
    for group in spec.security_groups:
        if group.id == group_id:
            addresses.update(group.member_ips)
    return sorted(ip for ip in addresses if ipaddress.ip_address(ip).version == version)
