"""The dataplane driven through the API: two hosts, each a namespace running
its own `strata agent`, joined by VXLAN over a veth underlay. Instances are
namespaces plugged into ports created with openstacksdk; everything pinged
lives inside namespaces this test made and removes."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openstack
import pytest

from infra.net import namespaces
from tests.e2e.cloud import RunningCloud, start_cloud
from tests.integration.test_network_agent import ping, sh
from workers.network import names
from workers.network.probe import probe

pytestmark = [pytest.mark.e2e, pytest.mark.root]

UNDERLAY = {"a": "192.0.2.1", "b": "192.0.2.2"}
OUTSIDE_IP = "203.0.113.254"


@dataclass
class TwoHosts:
    cloud: RunningCloud
    prefix: str
    conn: Any
    tmp: Path
    agents: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def outside(self) -> str:
        return f"{self.prefix}-outside"

    def host(self, key: str) -> str:
        return f"{self.prefix}-host{key}"

    def instance(self, key: str, port: Any, gateway: str | None = None) -> str:
        """A guest on host `key`: a namespace whose eth0 is the port's tap peer."""
        ns = f"{self.prefix}-vm{port.id[:4]}"
        namespaces.ensure_namespace(ns)
        tap = names.tap(port.id)
        sh(
            "ip",
            "-n",
            self.host(key),
            "link",
            "add",
            tap,
            "type",
            "veth",
            "peer",
            "eth0",
            "netns",
            ns,
        )
        sh("ip", "-n", ns, "link", "set", "eth0", "address", port.mac_address, "mtu", "1450", "up")
        address = port.fixed_ips[0]["ip_address"]
        sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        if gateway:
            sh("ip", "-n", ns, "route", "add", "default", "via", gateway)
        return ns


def start_agent(lab: TwoHosts, key: str, tmp: Path, dsn: str, embedded: bool) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
    peer = UNDERLAY["b" if key == "a" else "a"]
    env.update(
        {
            "STRATA_DATA_DIR": str(tmp / f"agent-{key}"),
            "STRATA_DATABASE_URL": dsn,
            "STRATA_NETWORK_AGENT": "linuxbridge",
            "STRATA_AGENT_NETNS": lab.host(key),
            "STRATA_AGENT_NAMESPACE_PREFIX": f"{lab.prefix}-{key}-",
            "STRATA_AGENT_LOCAL_IP": UNDERLAY[key],
            "STRATA_AGENT_PEERS": peer,
            "STRATA_AGENT_INTERVAL": "2",
            "STRATA_CATCH_UP_INTERVAL": "0.1",
            # Networking only: these hosts run no guests.
            "STRATA_COMPUTE_DRIVER": "off",
        }
    )
    if embedded:  # the router host: its link to the outside world
        env["STRATA_AGENT_EXTERNAL_INTERFACE"] = "ext0"
    argv = [sys.executable, "-m", "runtime.cli", "agent", "--host", f"host-{key}"]
    log = (tmp / f"agent-{key}.log").open("wb")
    lab.agents.append(
        subprocess.Popen(
            [*argv, "--embedded"] if embedded else argv, env=env, stdout=log, stderr=log
        )
    )


@pytest.fixture
def lab(tmp_path: Path, pg_dsn: str) -> Iterator[TwoHosts]:
    found = probe("linuxbridge")
    if found.driver is None:
        if os.environ.get("CI"):
            pytest.fail(f"the network agent cannot run in CI: {found.reason}")
        pytest.skip(found.reason)
    prefix = "dp" + secrets.token_hex(3)
    cloud = start_cloud(tmp_path / "cloud", database_url=pg_dsn)
    conn = openstack.connect(
        auth_url=cloud.auth_url,
        username="admin",
        password=cloud.password,
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
    )
    lab = TwoHosts(cloud, prefix, conn, tmp_path)
    try:
        a, b = lab.host("a"), lab.host("b")
        for ns in (a, b):
            namespaces.ensure_namespace(ns)
        sh("ip", "-n", a, "link", "add", "underlay", "type", "veth", "peer", "underlay", "netns", b)
        for key, ns in (("a", a), ("b", b)):
            sh("ip", "-n", ns, "addr", "add", f"{UNDERLAY[key]}/24", "dev", "underlay")
            sh("ip", "-n", ns, "link", "set", "underlay", "up")
        # "The internet": a namespace behind host a's ext0, with no route
        # back to any tenant network (only NAT can make replies find home).
        outside = lab.outside
        namespaces.ensure_namespace(outside)
        sh("ip", "-n", a, "link", "add", "ext0", "type", "veth", "peer", "eth0", "netns", outside)
        sh("ip", "-n", a, "link", "set", "ext0", "up")
        sh("ip", "-n", outside, "addr", "add", f"{OUTSIDE_IP}/24", "dev", "eth0")
        sh("ip", "-n", outside, "link", "set", "eth0", "up")
        # Host a also hosts the routers (the one-host cloud's choice).
        start_agent(lab, "a", tmp_path, pg_dsn, embedded=True)
        start_agent(lab, "b", tmp_path, pg_dsn, embedded=False)
        yield lab
    finally:
        for agent in lab.agents:
            agent.terminate()
            agent.wait(timeout=15)
        cloud.stop()
        subprocess.run(["pkill", "-f", f"dnsmasq.*{tmp_path}"], check=False)
        for ns in namespaces.list_namespaces():
            if ns.startswith(prefix):
                namespaces.delete_namespace(ns)


def dhcp_lease(ns: str, folder: Path) -> tuple[str, str]:
    """Ask for a lease with busybox udhcpc; returns (address, router)."""
    script, out = folder / f"udhcpc-{ns}.sh", folder / f"lease-{ns}"
    script.write_text(f'#!/bin/sh\n[ "$1" = bound ] && echo "$ip $router" > {out}\nexit 0\n')
    script.chmod(0o755)
    udhcpc = ["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "10", "-T", "1"]
    sh("ip", "netns", "exec", ns, *udhcpc, "-s", str(script))
    address, router = out.read_text().split()
    return address, router


def wait(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def port_on(lab: TwoHosts, network: Any, host: str, **extra: Any) -> Any:
    return lab.conn.network.create_port(
        network_id=network.id,
        device_owner="compute:nova",
        device_id=secrets.token_hex(8),
        binding_host_id=host,
        **extra,
    )


def active(lab: TwoHosts, *ports: Any) -> None:
    for port in ports:

        def is_active(port_id: str = port.id) -> bool:
            return bool(lab.conn.network.get_port(port_id).status == "ACTIVE")

        wait(is_active, f"{port.id} ACTIVE")


def test_instances_on_two_hosts_talk_over_vxlan_and_obey_security_groups(lab: TwoHosts) -> None:
    net = lab.conn.network.create_network(name="dp-net")
    lab.conn.network.create_subnet(network_id=net.id, cidr="10.91.0.0/24", ip_version=4)
    p1, p2 = port_on(lab, net, "host-a"), port_on(lab, net, "host-b")
    vm1, vm2 = lab.instance("a", p1), lab.instance("b", p2)
    active(lab, p1, p2)
    ip1, ip2 = p1.fixed_ips[0]["ip_address"], p2.fixed_ips[0]["ip_address"]
    # The project's default group admits its own members.
    wait(lambda: ping(vm1, ip2, count=1), "vm1 to reach vm2 across hosts")
    assert ping(vm2, ip1)
    # DHCP (served on host a, across VXLAN) offers vm2 the address its port holds.
    assert dhcp_lease(vm2, lab.tmp) == (ip2, "10.91.0.1")

    closed = lab.conn.network.create_security_group(name="dp-closed")
    for rule in list(lab.conn.network.security_group_rules(security_group_id=closed.id)):
        if rule.direction == "ingress":
            lab.conn.network.delete_security_group_rule(rule)
    lab.conn.network.update_port(p2, security_group_ids=[closed.id])
    wait(lambda: not ping(vm1, ip2, count=1), "the closed group to block ICMP")
    lab.conn.network.create_security_group_rule(
        security_group_id=closed.id, direction="ingress", ethertype="IPv4", protocol="icmp"
    )
    wait(lambda: ping(vm1, ip2, count=1), "the ICMP rule to let ping through")


def test_a_router_joins_two_tenant_networks(lab: TwoHosts) -> None:
    left = lab.conn.network.create_network(name="dp-left")
    right = lab.conn.network.create_network(name="dp-right")
    left_sub = lab.conn.network.create_subnet(network_id=left.id, cidr="10.92.1.0/24", ip_version=4)
    right_sub = lab.conn.network.create_subnet(
        network_id=right.id, cidr="10.92.2.0/24", ip_version=4
    )
    open_group = lab.conn.network.create_security_group(name="dp-open")
    lab.conn.network.create_security_group_rule(
        security_group_id=open_group.id, direction="ingress", ethertype="IPv4", protocol="icmp"
    )
    p1 = port_on(lab, left, "host-a", security_group_ids=[open_group.id])
    p2 = port_on(lab, right, "host-b", security_group_ids=[open_group.id])
    vm1 = lab.instance("a", p1, gateway=left_sub.gateway_ip)
    vm2 = lab.instance("b", p2, gateway=right_sub.gateway_ip)
    active(lab, p1, p2)
    ip2 = p2.fixed_ips[0]["ip_address"]
    assert not ping(vm1, ip2, count=1), "separate networks, no router: unreachable"

    router = lab.conn.network.create_router(name="dp-router")
    lab.conn.network.add_interface_to_router(router, subnet_id=left_sub.id)
    lab.conn.network.add_interface_to_router(router, subnet_id=right_sub.id)
    wait(lambda: ping(vm1, ip2, count=1), "the router to join the networks")
    assert ping(vm2, p1.fixed_ips[0]["ip_address"])


def test_snat_out_and_a_floating_ip_in(lab: TwoHosts) -> None:
    public = lab.conn.network.create_network(name="dp-public", is_router_external=True)
    lab.conn.network.create_subnet(
        network_id=public.id,
        cidr="203.0.113.0/24",
        ip_version=4,
        is_dhcp_enabled=False,
        allocation_pools=[{"start": "203.0.113.10", "end": "203.0.113.100"}],
    )
    private = lab.conn.network.create_network(name="dp-private")
    subnet = lab.conn.network.create_subnet(
        network_id=private.id, cidr="10.93.0.0/24", ip_version=4
    )
    open_group = lab.conn.network.create_security_group(name="dp-fip-open")
    lab.conn.network.create_security_group_rule(
        security_group_id=open_group.id, direction="ingress", ethertype="IPv4", protocol="icmp"
    )
    port = port_on(lab, private, "host-b", security_group_ids=[open_group.id])
    vm = lab.instance("b", port, gateway=subnet.gateway_ip)
    active(lab, port)
    router = lab.conn.network.create_router(
        name="dp-edge", external_gateway_info={"network_id": public.id}
    )
    lab.conn.network.add_interface_to_router(router, subnet_id=subnet.id)
    wait(lambda: ping(vm, OUTSIDE_IP, count=1), "SNAT to carry the instance outside")

    fip = lab.conn.network.create_ip(floating_network_id=public.id, port_id=port.id)
    address = fip.floating_ip_address
    wait(lambda: ping(lab.outside, address, count=1), "the floating IP to reach the instance")
    lab.conn.network.update_ip(fip, port_id=None)
    wait(lambda: not ping(lab.outside, address, count=1), "the disassociated address to go quiet")
