"""The nftables NAT table of one router namespace.

Floating IPs are 1:1 NAT (DNAT on the way in, SNAT of the fixed address on
the way out through the gateway); every other address of the router's
internal subnets leaves through the gateway masqueraded as the router's
external address when SNAT is enabled — Neutron's semantics.
"""

from __future__ import annotations

import ipaddress

from workers.network import names
from workers.network.desired import HostSpec, RouterSpec
from workers.network.topology import gateway_id


def render(spec: HostSpec, router: RouterSpec) -> str:
    """The table body, or "" when the router needs no NAT."""
    if not router.external_network_id:
        return ""
    gateway = names.router_gateway(gateway_id(router))
    prerouting: list[str] = []
    postrouting: list[str] = []
    for fip in sorted(router.floating_ips, key=lambda f: f.floating_ip):
        if ipaddress.ip_address(fip.floating_ip).version != 4:
            continue  # Neutron floating IPs are IPv4 only
        prerouting.append(f"ip daddr {fip.floating_ip} dnat to {fip.fixed_ip}")
        postrouting.append(f'oifname "{gateway}" ip saddr {fip.fixed_ip} snat to {fip.floating_ip}')
    external_v4 = [
        ip.ip_address
        for ip in router.external_ips
        if ipaddress.ip_address(ip.ip_address).version == 4
    ]
    internal = sorted(
        {
            subnet.cidr
            for iface in router.interfaces
            if (subnet := spec.subnet(iface.subnet_id)) is not None and subnet.ip_version == 4
        }
    )
    if router.enable_snat and external_v4 and internal:
        postrouting.append(
            f'oifname "{gateway}" ip saddr {{ {", ".join(internal)} }} snat to {external_v4[0]}'
        )
    if not prerouting and not postrouting:
        return ""
    # The output chain makes floating IPs work from the router itself too
    # (e.g. a health check run inside the namespace).
    return "\n".join(
        [
            _chain("prerouting", "prerouting", -100, prerouting),
            _chain("output", "output", -100, prerouting),
            _chain("postrouting", "postrouting", 100, postrouting),
        ]
    )


def _chain(name: str, hook: str, priority: int, rules: list[str]) -> str:
    body = "".join(f"\t\t{rule}\n" for rule in rules)
    return f"\tchain {name} {{\n\t\ttype nat hook {hook} priority {priority}; policy accept;\n{body}\t}}"
