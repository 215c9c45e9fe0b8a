"""The agent's quick pass (a wake-up) and the state it keeps between passes.

A quick pass trusts the nftables tables and sysctls this agent applied
itself and keeps its sockets into router and DHCP namespaces open; these
tests pin down where that trust ends: a verifying pass repairs a table
changed by hand, and a namespace deleted by hand is a new namespace (its
tables are applied again, the socket into the old one is let go).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from infra.net import namespaces, nftables
from tests.integration.test_network_agent import (
    EXT,
    EXTSUB,
    NET1,
    NETWORK1,
    P1,
    P2,
    ROUTER,
    SUB1,
    Lab,
    lab,
    port,
    sh,
    spec_for,
    subnet,
)
from workers.network import names
from workers.network.desired import (
    DEVICE_OWNER_DHCP,
    FixedIp,
    FloatingIpSpec,
    NetworkSpec,
    RouterInterfaceSpec,
    RouterSpec,
    RuleSpec,
    SecurityGroupSpec,
)

pytestmark = pytest.mark.root
__all__ = ["lab"]

EGRESS = SecurityGroupSpec("sg-1", (RuleSpec("egress"),))


def _sg_rules(lab: Lab) -> str:
    text = nftables.table_text(lab.hosts["a"], "inet", names.SG_TABLE)
    assert text is not None
    return text


def test_quick_pass_trusts_its_tables_and_the_verifying_pass_repairs_them(lab: Lab) -> None:
    agent = lab.agents["a"]
    guarded = replace(P1, port_security_enabled=True, security_group_ids=("sg-1",))
    spec = spec_for("host-a", networks=(NETWORK1,), ports=(guarded, P2), security_groups=(EGRESS,))
    lab.instance("a", guarded, "10.10.0.11/24")
    lab.converge("a", spec)
    applied = _sg_rules(lab)

    # A table changed by hand: a quick pass does not look, the verifying one does.
    rule = ["nft", "insert", "rule", "inet", names.SG_TABLE, "forward", "accept"]
    sh("ip", "netns", "exec", lab.hosts["a"], *rule)
    assert agent.converge(spec, verify=False).changes == []
    assert _sg_rules(lab) != applied
    assert lab.converge("a", spec) == 1
    assert _sg_rules(lab) == applied

    # A rule added in the spec: the quick pass applies it without listing,
    # settle lists it, and a verifying pass then finds nothing to do.
    icmp = replace(EGRESS, rules=(*EGRESS.rules, RuleSpec("ingress", "IPv4", "icmp")))
    spec = replace(spec, security_groups=(icmp,))
    report = agent.converge(spec, verify=False)
    assert "apply security group tables" in report.changes
    assert _sg_rules(lab) != applied
    agent.settle()
    assert lab.converge("a", spec) == 0

    # Without settle the verifying pass cannot compare, so it applies again.
    spec = replace(spec, security_groups=(EGRESS,))
    assert "apply security group tables" in agent.converge(spec, verify=False).changes
    assert lab.converge("a", spec) == 1
    assert _sg_rules(lab) == applied
    assert lab.converge("a", spec) == 0


def test_a_namespace_deleted_by_hand_is_rebuilt_by_a_quick_pass(lab: Lab) -> None:
    agent = lab.agents["a"]
    host = lab.hosts["a"]
    sh("ip", "-n", host, "link", "add", "ext0", "type", "veth", "peer", "name", "ext0p")
    external = NetworkSpec(
        EXT,
        None,
        1500,
        (subnet(EXTSUB, EXT, "203.0.113.0/24", "203.0.113.1"),),
        external=True,
        physical_interface="ext0",
    )
    router = RouterSpec(
        ROUTER,
        external_network_id=EXT,
        external_ips=(FixedIp(EXTSUB, "203.0.113.10"),),
        interfaces=(
            RouterInterfaceSpec("f1f10000-0000-4000-8000-0000000000f1", SUB1, "10.10.0.1"),
        ),
        floating_ips=(FloatingIpSpec("203.0.113.20", "10.10.0.11", P1.id),),
    )
    dhcp = replace(
        port("e5e50000-0000-4000-8000-000000000005", NET1, SUB1, "10.10.0.2", "host-a"),
        device_owner=DEVICE_OWNER_DHCP,
    )
    spec = spec_for("host-a", networks=(NETWORK1, external), ports=(P1, dhcp), routers=(router,))
    lab.converge("a", spec)
    assert agent.converge(spec, verify=False).changes == []
    router_ns = names.router_namespace(lab.prefix + "-a-", ROUTER)
    dhcp_ns = names.dhcp_namespace(lab.prefix + "-a-", NET1)
    assert nftables.table_text(router_ns, "ip", names.NAT_TABLE) is not None

    for ns in (router_ns, dhcp_ns):
        sh("ip", "netns", "delete", ns)
    report = agent.converge(spec, verify=False)
    assert report.errors == {}
    assert f"create namespace {router_ns}" in report.changes
    assert f"create namespace {dhcp_ns}" in report.changes
    # The new namespace is not the one the agent applied NAT to before.
    assert nftables.table_text(router_ns, "ip", names.NAT_TABLE) is not None
    inner = sh("ip", "-n", dhcp_ns, "-br", "link").stdout
    assert names.dhcp_device(dhcp.id) in inner
    agent.settle()
    assert agent.converge(spec).changes == []

    # Namespaces the agent deletes go, although it kept sockets into them.
    lab.converge("a", replace(spec, routers=(), ports=(P1,)))
    assert not namespaces.exists(router_ns)
    assert not namespaces.exists(dhcp_ns)


def test_kept_sockets_follow_a_namespace_replaced_under_the_same_name(lab: Lab) -> None:
    ns = lab.ns("kept")
    sockets = namespaces.Sockets()
    try:
        namespaces.ensure_namespace(ns)
        first = sockets.get(ns)
        assert sockets.get(ns) is first
        sh("ip", "netns", "delete", ns)
        sockets.prune()
        with pytest.raises(LookupError):
            sockets.get(ns)
        namespaces.ensure_namespace(ns)
        sh("ip", "-n", ns, "link", "add", "marker0", "type", "veth", "peer", "name", "marker1")
        second = sockets.get(ns)
        assert second is not first
        assert "marker0" in {msg.get("ifname") for msg in second.get_links()}
    finally:
        sockets.close()
        namespaces.delete_namespace(ns)
