"""Security groups on both L2 drivers, on the two-host lab (see test_network_agent).

Host A runs the driver under test (Linux bridge, or Open vSwitch with its own
daemons and per-port bridges); host B runs the Linux bridge driver. Every
scenario filters ports on host A and is run once per driver, so the two
cannot drift apart.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.integration.test_network_agent import (
    NET1,
    NETWORK1,
    P1,
    P2,
    SUB1,
    Lab,
    _need,
    ping,
    port,
    sh,
    spec_for,
)
from tests.integration.test_network_agent_ovs import need_ovs, ovs_on_host_a
from workers.network import names
from workers.network.desired import (
    AddressPair,
    FixedIp,
    PortSpec,
    RuleSpec,
    SecurityGroupSpec,
    SubnetSpec,
)

pytestmark = pytest.mark.root

P3 = port("c3c30000-0000-4000-8000-000000000003", NET1, SUB1, "10.10.0.13", "host-a")
P4 = port("d4d40000-0000-4000-8000-000000000004", NET1, SUB1, "10.10.0.14", "host-b")
EGRESS_ONLY = SecurityGroupSpec("sg-1", (RuleSpec("egress"), RuleSpec("egress", "IPv6")))


@pytest.fixture(params=["linuxbridge", "ovs"])
def sg_lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lab]:
    if request.param == "ovs":
        need_ovs()
    elif os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    for binary in ("ip", "nft", "busybox"):
        _need(binary)
    lab = Lab(tmp_path)
    try:
        lab.start()
        with ovs_on_host_a(lab) if request.param == "ovs" else contextlib.nullcontext():
            yield lab
    finally:
        lab.cleanup()


def guard(p: PortSpec, *groups: str) -> PortSpec:
    return replace(p, port_security_enabled=True, security_group_ids=groups)


def sg_table_exists(lab: Lab) -> bool:
    tables = sh("ip", "netns", "exec", lab.hosts["a"], "nft", "list", "tables").stdout
    return names.SG_TABLE in tables


def test_ping_is_blocked_until_a_rule_allows_it_and_replies_pass(sg_lab: Lab) -> None:
    lab = sg_lab
    guarded = guard(P1, "sg-1")
    spec_a = spec_for(
        "host-a", networks=(NETWORK1,), ports=(guarded, P2), security_groups=(EGRESS_ONLY,)
    )
    spec_b = spec_for("host-b", networks=(NETWORK1,), ports=(guarded, P2))
    vm1 = lab.instance("a", guarded, "10.10.0.11/24")
    vm2 = lab.instance("b", P2, "10.10.0.12/24")
    lab.converge("a", spec_a)
    lab.converge("b", spec_b)

    assert ping(vm1, "10.10.0.12")  # egress allowed; the replies are established
    assert not ping(vm2, "10.10.0.11", count=1)  # no ingress rule

    allow_icmp = replace(
        EGRESS_ONLY, rules=(*EGRESS_ONLY.rules, RuleSpec("ingress", "IPv4", "icmp"))
    )
    spec_a = replace(spec_a, security_groups=(allow_icmp,))
    assert lab.converge("a", spec_a) > 0
    assert ping(vm2, "10.10.0.11")
    before = lab.snapshot("a")
    assert lab.converge("a", spec_a) == 0
    assert lab.snapshot("a") == before

    # A rule only for another prefix admits nobody from here.
    from_elsewhere = replace(
        EGRESS_ONLY,
        rules=(
            *EGRESS_ONLY.rules,
            RuleSpec("ingress", "IPv4", "icmp", remote_ip_prefix="10.99.0.0/24"),
        ),
    )
    lab.converge("a", replace(spec_a, security_groups=(from_elsewhere,)))
    assert not ping(vm2, "10.10.0.11", count=1)
    lab.converge("a", spec_a)
    assert ping(vm2, "10.10.0.11")

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


def test_remote_group_admits_members_only_also_between_local_ports(sg_lab: Lab) -> None:
    lab = sg_lab
    web = SecurityGroupSpec(
        "sg-web",
        (RuleSpec("egress"), RuleSpec("ingress", "IPv4", "icmp", remote_group_id="sg-web")),
    )
    p1, p3 = guard(P1, "sg-web"), guard(P3, "sg-web")
    member = replace(P2, security_group_ids=("sg-web",))  # filtered or not, it counts
    ports = (p1, p3, member, P4)
    spec_a = spec_for("host-a", networks=(NETWORK1,), ports=ports, security_groups=(web,))
    spec_b = spec_for("host-b", networks=(NETWORK1,), ports=ports)
    vm1 = lab.instance("a", p1, "10.10.0.11/24")
    vm3 = lab.instance("a", p3, "10.10.0.13/24")
    vm2 = lab.instance("b", member, "10.10.0.12/24")
    vm4 = lab.instance("b", P4, "10.10.0.14/24")
    lab.converge("a", spec_a)
    lab.converge("b", spec_b)

    assert ping(vm2, "10.10.0.11")  # a member on the other host
    assert ping(vm3, "10.10.0.11")  # a member on the same host: both ports filter
    assert ping(vm1, "10.10.0.13")
    assert not ping(vm4, "10.10.0.11", count=1)  # not a member
    assert not ping(vm4, "10.10.0.13", count=1)

    # vm2 leaves the group: its address leaves the rule.
    ports = (p1, p3, P2, P4)
    assert lab.converge("a", replace(spec_a, ports=ports)) > 0
    assert not ping(vm2, "10.10.0.11", count=1)
    assert ping(vm3, "10.10.0.11")


def test_spoofed_addresses_are_dropped_unless_an_address_pair_allows_them(sg_lab: Lab) -> None:
    lab = sg_lab
    open_group = SecurityGroupSpec("sg-1", (RuleSpec("egress"), RuleSpec("ingress")))
    guarded = guard(P1, "sg-1")
    spec_a = spec_for(
        "host-a", networks=(NETWORK1,), ports=(guarded, P2), security_groups=(open_group,)
    )
    spec_b = spec_for("host-b", networks=(NETWORK1,), ports=(guarded, P2))
    vm1 = lab.instance("a", guarded, "10.10.0.11/24")
    lab.instance("b", P2, "10.10.0.12/24")
    lab.converge("a", spec_a)
    lab.converge("b", spec_b)
    assert ping(vm1, "10.10.0.12")

    # vm1 takes an address that is not its port's: it loses the network.
    sh("ip", "-n", vm1, "addr", "flush", "dev", "eth0")
    sh("ip", "-n", vm1, "addr", "add", "10.10.0.99/24", "dev", "eth0")
    assert not ping(vm1, "10.10.0.12", count=1)
    # An allowed address pair makes it legitimate (a VIP, say).
    paired = replace(guarded, allowed_address_pairs=(AddressPair("10.10.0.99"),))
    spec_a = replace(spec_a, ports=(paired, P2))
    assert lab.converge("a", spec_a) > 0
    assert ping(vm1, "10.10.0.12")

    # A forged source MAC is dropped too, whatever the address.
    sh("ip", "-n", vm1, "link", "set", "eth0", "address", "fa:16:3e:66:66:66")
    sh("ip", "-n", vm1, "neigh", "flush", "all")
    assert not ping(vm1, "10.10.0.12", count=1)


def test_port_security_off_bypasses_filtering_and_a_gone_port_leaves_no_rules(
    sg_lab: Lab,
) -> None:
    lab = sg_lab
    guarded = guard(P1, "sg-1")
    spec_a = spec_for(
        "host-a", networks=(NETWORK1,), ports=(guarded, P2), security_groups=(EGRESS_ONLY,)
    )
    spec_b = spec_for("host-b", networks=(NETWORK1,), ports=(guarded, P2))
    vm1 = lab.instance("a", guarded, "10.10.0.11/24")
    vm2 = lab.instance("b", P2, "10.10.0.12/24")
    lab.converge("a", spec_a)
    lab.converge("b", spec_b)
    assert not ping(vm2, "10.10.0.11", count=1)
    assert sg_table_exists(lab)

    # Port security off: no filter at all, even a spoofed address passes.
    spec_a = replace(spec_a, ports=(P1, P2))
    assert lab.converge("a", spec_a) > 0
    assert not sg_table_exists(lab)
    assert ping(vm2, "10.10.0.11")
    sh("ip", "-n", vm1, "addr", "add", "10.10.0.98/24", "dev", "eth0")
    assert ping(vm2, "10.10.0.98")
    assert lab.converge("a", spec_a) == 0

    # Back on, then the port goes: the rules go with it.
    spec_a = replace(spec_a, ports=(guarded, P2))
    assert lab.converge("a", spec_a) > 0
    assert not ping(vm2, "10.10.0.11", count=1)
    spec_a = replace(spec_a, ports=(P2,), security_groups=())
    assert lab.converge("a", spec_a) > 0
    assert not sg_table_exists(lab)
    assert lab.converge("a", spec_a) == 0


SUB6 = "56666666-0000-4000-8000-000000000006"
V6_SUBNET = SubnetSpec(SUB6, NET1, "fd10::/64", 6, None, enable_dhcp=False)


def test_ipv6_needs_its_own_rule_and_neighbour_discovery_always_works(sg_lab: Lab) -> None:
    lab = sg_lab
    network = replace(NETWORK1, subnets=(*NETWORK1.subnets, V6_SUBNET))
    dual = replace(guard(P1, "sg-1"), fixed_ips=(*P1.fixed_ips, FixedIp(SUB6, "fd10::11")))
    other = replace(P2, fixed_ips=(*P2.fixed_ips, FixedIp(SUB6, "fd10::12")))
    v4_icmp = replace(EGRESS_ONLY, rules=(*EGRESS_ONLY.rules, RuleSpec("ingress", "IPv4", "icmp")))
    spec_a = spec_for(
        "host-a", networks=(network,), ports=(dual, other), security_groups=(v4_icmp,)
    )
    spec_b = spec_for("host-b", networks=(network,), ports=(dual, other))
    vm1 = lab.instance("a", dual, "10.10.0.11/24")
    vm2 = lab.instance("b", other, "10.10.0.12/24")
    for vm, address in ((vm1, "fd10::11/64"), (vm2, "fd10::12/64")):
        sh("ip", "-n", vm, "addr", "add", address, "dev", "eth0", "nodad")
    lab.converge("a", spec_a)
    lab.converge("b", spec_b)

    assert ping(vm1, "fd10::12")  # egress IPv6, with neighbour discovery both ways
    assert ping(vm2, "10.10.0.11")
    assert not ping(vm2, "fd10::11", count=1)  # the ICMP rule is IPv4 only

    v6_icmp = replace(v4_icmp, rules=(*v4_icmp.rules, RuleSpec("ingress", "IPv6", "icmp")))
    assert lab.converge("a", replace(spec_a, security_groups=(v6_icmp,))) > 0
    assert ping(vm2, "fd10::11")


_UDP = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", int(sys.argv[2])))
if sys.argv[1] == "send":
    s.sendto(b"x", (sys.argv[3], int(sys.argv[4])))
else:
    s.settimeout(2)
    s.recvfrom(16)
"""


def udp_arrives(sender: str, source: str, source_port: int, receiver: str, port: int) -> bool:
    """Whether a datagram from `sender` (bound to source_port) reaches `receiver`'s port."""
    listen = ["ip", "netns", "exec", receiver, sys.executable, "-c", _UDP, "recv", str(port)]
    with subprocess.Popen(listen, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as server:
        ip = "10.10.0." + ("11" if receiver.endswith("a1a1") else "13")
        for _ in range(3):  # the listener may not be bound yet
            sh(
                "ip",
                "netns",
                "exec",
                sender,
                sys.executable,
                "-c",
                _UDP,
                "send",
                str(source_port),
                ip,
                str(port),
            )
        return server.wait(timeout=10) == 0


def test_a_flow_the_ingress_rules_dropped_cannot_be_answered_past_egress_rules(
    sg_lab: Lab,
) -> None:
    lab = sg_lab
    icmp_out = SecurityGroupSpec("sg-closed", (RuleSpec("egress", "IPv4", "icmp"),))
    open_group = SecurityGroupSpec("sg-open", (RuleSpec("egress"), RuleSpec("ingress")))
    p1, p3 = guard(P1, "sg-closed"), guard(P3, "sg-open")
    spec_a = spec_for(
        "host-a", networks=(NETWORK1,), ports=(p1, p3), security_groups=(icmp_out, open_group)
    )
    vm1 = lab.instance("a", p1, "10.10.0.11/24")
    vm3 = lab.instance("a", p3, "10.10.0.13/24")
    lab.converge("a", spec_a)
    assert ping(vm1, "10.10.0.13")

    # vm3 -> vm1:6000 is dropped by vm1's ingress rules...
    assert not udp_arrives(vm3, "10.10.0.13", 5000, vm1, 6000)
    # ...so vm1:6000 -> vm3:5000 is no answer to anything: its egress rules apply.
    assert not udp_arrives(vm1, "10.10.0.11", 6000, vm3, 5000)

    udp_out = replace(icmp_out, rules=(*icmp_out.rules, RuleSpec("egress", "IPv4", "udp")))
    lab.converge("a", replace(spec_a, security_groups=(udp_out, open_group)))
    assert udp_arrives(vm1, "10.10.0.11", 6000, vm3, 5000)
