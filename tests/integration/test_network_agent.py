"""The network agent against real kernel networking, two simulated hosts.

Each "host" is a network namespace with its own agent (`host_netns`), the
two joined by a veth underlay (192.0.2.1 <-> 192.0.2.2) carrying VXLAN.
Each "instance" is a namespace holding one end of a veth whose other end,
named like compute would name the tap, sits on the host. Every address
pinged lives inside namespaces the lab created, and the lab removes them
(and the dnsmasq processes) however the test ends.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from infra.net import namespaces
from infra.net.dnsmasq import Dnsmasq
from infra.net.router_adverts import RouterAdvertiser
from workers.network import names
from workers.network.agent import NetworkAgent
from workers.network.context import AgentOptions
from workers.network.desired import (
    FixedIp,
    HostSpec,
    NetworkSpec,
    PortSpec,
    RouterInterfaceSpec,
    RouterSpec,
    SecurityGroupSpec,
    SubnetSpec,
)

pytestmark = pytest.mark.root

UNDERLAY = ("192.0.2.1", "192.0.2.2")
NET1, NET2, EXT = (
    "11111111-aaaa-4000-8000-000000000001",
    "22222222-bbbb-4000-8000-000000000002",
    "eeeeeeee-eeee-4000-8000-00000000000e",
)
SUB1, SUB2, EXTSUB = (
    "51111111-0000-4000-8000-000000000001",
    "52222222-0000-4000-8000-000000000002",
    "5eeeeeee-0000-4000-8000-00000000000e",
)
ROUTER = "99999999-0000-4000-8000-000000000009"


def _need(binary: str) -> None:
    if shutil.which(binary) is None and not Path("/usr/sbin", binary).exists():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{binary} is not installed (.ci/run installs it)", pytrace=False)
        pytest.skip(f"{binary} is not installed")


def sh(*argv: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {result.stderr or result.stdout}")
    return result


class Lab:
    """Namespaces and agents of one test, all named with a random prefix."""

    def __init__(self, tmp: Path) -> None:
        self.prefix = "st" + secrets.token_hex(3)
        self.tmp = tmp
        self.hosts = {"a": f"{self.prefix}-hosta", "b": f"{self.prefix}-hostb"}
        self.agents = {
            key: NetworkAgent(
                AgentOptions(
                    state_dir=tmp / key, host_netns=ns, namespace_prefix=f"{self.prefix}-{key}-"
                )
            )
            for key, ns in self.hosts.items()
        }

    def ns(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def start(self) -> None:
        for ns in self.hosts.values():
            namespaces.ensure_namespace(ns)
        a, b = self.hosts["a"], self.hosts["b"]
        sh("ip", "-n", a, "link", "add", "underlay", "type", "veth", "peer", "underlay", "netns", b)
        for ns, ip in zip((a, b), UNDERLAY, strict=True):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "underlay")
            sh("ip", "-n", ns, "link", "set", "underlay", "up")

    def cleanup(self) -> None:
        for key in self.agents:
            # DHCP servers and router advertisers: a process outlives the
            # namespace it runs in.
            for kind in ("dhcp", "ra"):
                folder = self.tmp / key / kind
                for directory in folder.iterdir() if folder.is_dir() else ():
                    if kind == "dhcp":
                        Dnsmasq(directory).remove()
                    else:
                        RouterAdvertiser(directory, []).remove()
        for ns in namespaces.list_namespaces():
            if ns.startswith(self.prefix):
                namespaces.delete_namespace(ns)

    def instance(self, host: str, port: PortSpec, cidr: str, gateway: str | None = None) -> str:
        """A namespace standing for a guest, its NIC plugged as port's tap."""
        ns = self.ns("vm-" + port.id[:4])
        namespaces.ensure_namespace(ns)
        tap, peer = names.tap(port.id), "g" + port.id[:11]
        host_ns = self.hosts[host]
        sh("ip", "-n", host_ns, "link", "add", tap, "type", "veth", "peer", peer, "netns", ns)
        sh("ip", "-n", ns, "link", "set", peer, "name", "eth0", "address", port.mac_address)
        sh("ip", "-n", ns, "link", "set", "eth0", "mtu", "1450", "up")
        if cidr:
            sh("ip", "-n", ns, "addr", "add", cidr, "dev", "eth0")
        if gateway:
            sh("ip", "-n", ns, "route", "add", "default", "via", gateway)
        return ns

    def converge(self, key: str, spec: HostSpec) -> int:
        report = self.agents[key].converge(spec)
        assert report.errors == {}, report.errors
        return report.change_count

    def snapshot(self, key: str) -> str:
        """What the agent shapes on a host, read with iproute2 and nft.

        Only what the agent sets: the kernel changes carrier state, adds
        link-local addresses and learns MACs on its own schedule.
        """
        ns = self.hosts[key]
        links = [
            (i["ifname"], i.get("master"), i["address"], i["mtu"], "UP" in i["flags"])
            for i in json.loads(sh("ip", "-n", ns, "-j", "link").stdout)
        ]
        addresses = [
            (link["ifname"], a["local"], a["prefixlen"])
            for link in json.loads(sh("ip", "-n", ns, "-j", "addr").stdout)
            for a in link["addr_info"]
            if not a["local"].startswith("fe80:")
        ]
        fdb = sh("bridge", "-n", ns, "fdb", "show").stdout
        parts = [
            repr(sorted(links)),
            repr(sorted(addresses)),
            "".join(line for line in fdb.splitlines(keepends=True) if " dst " in line),
            sh("ip", "netns", "exec", ns, "nft", "list", "ruleset").stdout,
            " ".join(n for n in namespaces.list_namespaces() if n.startswith(self.prefix)),
        ]
        return "\n".join(parts)


def ping(ns: str, ip: str, count: int = 3) -> bool:
    # busybox ping: one package gives both ping and the DHCP client.
    argv = [
        "busybox",
        "ping",
        "-q",
        "-c",
        str(count),
        "-i",
        "0.2",
        "-W",
        "1",
        "-w",
        str(count + 1),
        ip,
    ]
    result = sh("ip", "netns", "exec", ns, *argv, check=False)
    return result.returncode == 0


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    for binary in ("ip", "nft", "dnsmasq", "busybox"):
        _need(binary)
    lab = Lab(tmp_path)
    try:
        lab.start()
        yield lab
    finally:
        lab.cleanup()


# -- specs --------------------------------------------------------------------


def subnet(sid: str, net: str, cidr: str, gateway: str, dhcp: bool = False) -> SubnetSpec:
    return SubnetSpec(sid, net, cidr, 4, gateway, enable_dhcp=dhcp, dns_nameservers=("192.0.2.53",))


def port(pid: str, net: str, sub: str, ip: str, host: str) -> PortSpec:
    """An instance port without port security (tests add it where wanted)."""
    mac = "fa:16:3e:00:" + pid[:2] + ":" + pid[2:4]
    fixed = (FixedIp(sub, ip),)
    return PortSpec(
        pid, net, mac, fixed, "compute:nova", port_security_enabled=False, binding_host=host
    )


NETWORK1 = NetworkSpec(
    NET1, 1001, 1450, (subnet(SUB1, NET1, "10.10.0.0/24", "10.10.0.1", dhcp=True),)
)
NETWORK2 = NetworkSpec(NET2, 1002, 1450, (subnet(SUB2, NET2, "10.20.0.0/24", "10.20.0.1"),))
P1 = port("a1a10000-0000-4000-8000-000000000001", NET1, SUB1, "10.10.0.11", "host-a")
P2 = port("b2b20000-0000-4000-8000-000000000002", NET1, SUB1, "10.10.0.12", "host-b")


def spec_for(
    host: str,
    *,
    networks: tuple[NetworkSpec, ...],
    ports: tuple[PortSpec, ...],
    routers: tuple[RouterSpec, ...] = (),
    security_groups: tuple[SecurityGroupSpec, ...] = (),
) -> HostSpec:
    local, peer = UNDERLAY if host == "host-a" else UNDERLAY[::-1]
    return HostSpec(host, local, networks, ports, routers, security_groups, (peer,))


# -- tests --------------------------------------------------------------------


def test_two_hosts_reach_each_other_over_vxlan_and_second_pass_changes_nothing(lab: Lab) -> None:
    spec_a = spec_for("host-a", networks=(NETWORK1,), ports=(P1, P2))
    spec_b = spec_for("host-b", networks=(NETWORK1,), ports=(P1, P2))
    assert lab.converge("a", spec_a) > 0
    assert lab.converge("b", spec_b) > 0
    vm1 = lab.instance("a", P1, "10.10.0.11/24")
    vm2 = lab.instance("b", P2, "10.10.0.12/24")
    report = lab.agents["a"].converge(spec_a)
    assert report.ports_up == {P1.id}
    lab.converge("b", spec_b)

    assert ping(vm1, "10.10.0.12")
    assert ping(vm2, "10.10.0.11")

    before = lab.snapshot("a"), lab.snapshot("b")
    assert lab.converge("a", spec_a) == 0
    assert lab.converge("b", spec_b) == 0
    assert (lab.snapshot("a"), lab.snapshot("b")) == before


def test_full_reconcile_recreates_missing_and_removes_stale(lab: Lab) -> None:
    spec_a = spec_for("host-a", networks=(NETWORK1, NETWORK2), ports=(P1,))
    lab.converge("a", spec_a)
    lab.instance("a", P1, "10.10.0.11/24")
    lab.converge("a", spec_a)
    host = lab.hosts["a"]
    bridge = names.bridge(NET1)

    sh("ip", "-n", host, "link", "del", bridge)
    stale_ns = f"{lab.prefix}-a-qrouter-00000000-dead"
    namespaces.ensure_namespace(stale_ns)
    assert lab.converge("a", spec_a) > 0
    links = sh("ip", "-n", host, "-d", "link", "show", names.tap(P1.id)).stdout
    assert f"master {bridge}" in links  # recreated and the tap plugged back
    assert not namespaces.exists(stale_ns)
    assert lab.converge("a", spec_a) == 0

    # Network 2 deleted: its bridge and VXLAN go, network 1 stays.
    assert lab.converge("a", replace(spec_a, networks=(NETWORK1,))) > 0
    remaining = sh("ip", "-n", host, "-br", "link").stdout
    assert names.bridge(NET2) not in remaining and "vxlan-1002" not in remaining
    assert bridge in remaining and "vxlan-1001" in remaining


def test_failures_are_reported_per_resource_and_the_rest_converges(lab: Lab) -> None:
    missing_uplink = NetworkSpec(EXT, None, 1500, (), external=True, physical_interface="nope0")
    lost_router = RouterSpec(
        ROUTER, interfaces=(RouterInterfaceSpec("f9", "no-such-subnet", "10.9.0.1"),)
    )
    spec_a = spec_for(
        "host-a", networks=(missing_uplink, NETWORK1), ports=(P1,), routers=(lost_router,)
    )
    report = lab.agents["a"].converge(spec_a)
    assert set(report.errors) == {EXT, ROUTER}
    assert "nope0" in report.errors[EXT]
    assert "no-such-subnet" in report.errors[ROUTER]
    assert report.ports_waiting == {P1.id}  # no tap yet: not an error, just not up
    links = sh("ip", "-n", lab.hosts["a"], "-br", "link").stdout
    assert names.bridge(NET1) in links and "vxlan-1001" in links
