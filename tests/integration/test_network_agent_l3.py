"""Routers and security groups on the two-host lab (see test_network_agent).

Router: an "external" namespace on the external network's physical link
has no route back to tenant addresses, so reaching it proves SNAT, and
reaching an instance from it proves the floating IP's DNAT.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from infra.net import namespaces
from tests.integration.test_network_agent import (
    EXT,
    EXTSUB,
    NET2,
    NETWORK1,
    NETWORK2,
    P1,
    P2,
    ROUTER,
    SUB1,
    SUB2,
    Lab,
    lab,
    ping,
    port,
    sh,
    spec_for,
    subnet,
)
from workers.network import names
from workers.network.desired import (
    FixedIp,
    FloatingIpSpec,
    NetworkSpec,
    RouterInterfaceSpec,
    RouterSpec,
    RuleSpec,
    SecurityGroupSpec,
)

pytestmark = pytest.mark.root
__all__ = ["lab"]  # the fixture, shared with the other dataplane modules


def test_router_snat_floating_ip_and_isolation_between_networks(lab: Lab) -> None:
    host = lab.hosts["a"]
    ext_ns = lab.ns("ext")
    namespaces.ensure_namespace(ext_ns)
    # The "internet": a namespace on the external network's physical link,
    # with no route back to tenant addresses — only NAT can reach it.
    sh("ip", "-n", host, "link", "add", "ext0", "type", "veth", "peer", "uplink", "netns", ext_ns)
    sh("ip", "-n", ext_ns, "addr", "add", "203.0.113.1/24", "dev", "uplink")
    sh("ip", "-n", ext_ns, "link", "set", "uplink", "up")
    external = NetworkSpec(
        EXT,
        None,
        1500,
        (subnet(EXTSUB, EXT, "203.0.113.0/24", "203.0.113.1"),),
        external=True,
        physical_interface="ext0",
    )
    p3 = port("c3c30000-0000-4000-8000-000000000003", NET2, SUB2, "10.20.0.13", "host-a")
    router = RouterSpec(
        ROUTER,
        external_network_id=EXT,
        external_ips=(FixedIp(EXTSUB, "203.0.113.10"),),
        interfaces=(
            RouterInterfaceSpec("f1f10000-0000-4000-8000-0000000000f1", SUB1, "10.10.0.1"),
        ),
        floating_ips=(FloatingIpSpec("203.0.113.20", "10.10.0.11", P1.id),),
    )
    spec_a = spec_for(
        "host-a", networks=(NETWORK1, NETWORK2, external), ports=(P1, P2, p3), routers=(router,)
    )
    spec_b = spec_for("host-b", networks=(NETWORK1,), ports=(P1, P2))
    lab.converge("a", spec_a)
    lab.converge("b", spec_b)
    vm1 = lab.instance("a", P1, "10.10.0.11/24", "10.10.0.1")
    vm2 = lab.instance("b", P2, "10.10.0.12/24", "10.10.0.1")
    vm3 = lab.instance("a", p3, "10.20.0.13/24", "10.20.0.1")
    lab.converge("a", spec_a)
    lab.converge("b", spec_b)

    assert ping(vm2, "203.0.113.1")  # SNAT, across VXLAN to the router host
    assert ping(ext_ns, "203.0.113.20")  # floating IP reaches vm1
    assert ping(vm1, "203.0.113.1")
    assert not ping(vm3, "10.10.0.11", count=1)  # network 2 has no router yet

    joined = replace(
        router,
        interfaces=(
            *router.interfaces,
            RouterInterfaceSpec("f2f20000-0000-4000-8000-0000000000f2", SUB2, "10.20.0.1"),
        ),
    )
    spec_a = replace(spec_a, routers=(joined,))
    assert lab.converge("a", spec_a) > 0
    assert ping(vm3, "10.10.0.11")
    assert lab.converge("a", spec_a) == 0

    # Router gone: its namespace goes with it, and the external link stays.
    lab.converge("a", replace(spec_a, routers=()))
    assert not namespaces.exists(names.router_namespace(f"{lab.prefix}-a-", ROUTER))
    assert not ping(vm2, "203.0.113.1", count=1)


def test_security_group_blocks_icmp_until_a_rule_allows_it(lab: Lab) -> None:
    egress_only = SecurityGroupSpec("sg-1", (RuleSpec("egress"), RuleSpec("egress", "IPv6")))
    guarded = replace(P1, port_security_enabled=True, security_group_ids=("sg-1",))
    spec_a = spec_for(
        "host-a", networks=(NETWORK1,), ports=(guarded, P2), security_groups=(egress_only,)
    )
    spec_b = spec_for("host-b", networks=(NETWORK1,), ports=(guarded, P2))
    lab.converge("a", spec_a)
    lab.converge("b", spec_b)
    vm1 = lab.instance("a", guarded, "10.10.0.11/24")
    vm2 = lab.instance("b", P2, "10.10.0.12/24")
    lab.converge("a", spec_a)
    lab.converge("b", spec_b)

    assert ping(vm1, "10.10.0.12")  # egress allowed, replies are established
    assert not ping(vm2, "10.10.0.11", count=1)  # no ingress rule

    allow_icmp = replace(
        egress_only, rules=(*egress_only.rules, RuleSpec("ingress", "IPv4", "icmp"))
    )
    spec_a = replace(spec_a, security_groups=(allow_icmp,))
    assert lab.converge("a", spec_a) > 0
    assert ping(vm2, "10.10.0.11")

    # Anti-spoofing: vm1 taking another address loses the network.
    sh("ip", "-n", vm1, "addr", "flush", "dev", "eth0")
    sh("ip", "-n", vm1, "addr", "add", "10.10.0.99/24", "dev", "eth0")
    assert not ping(vm1, "10.10.0.12", count=1)

    # A rule added by hand is a stale rule: the next pass replaces the table.
    sh(
        "ip",
        "netns",
        "exec",
        lab.hosts["a"],
        "nft",
        "insert",
        "rule",
        "inet",
        names.SG_TABLE,
        "forward",
        "accept",
    )
    assert lab.converge("a", spec_a) == 1
    assert lab.converge("a", spec_a) == 0
