"""The Open vSwitch driver (userspace datapath) on a simulated host.

Host A runs the OVS driver with its own ovsdb-server and ovs-vswitchd
started inside its namespace; host B runs the Linux bridge driver. An
instance on each pings the other, which proves the two drivers agree on
VXLAN, and the usual idempotence and cleanup rules hold for OVS bridges
and for the per-port bridges instance taps reach OVS through. The security
group scenarios run on both drivers in test_network_agent_sg.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from infra.net import ovs_daemons
from infra.net.ovs import OvsCtl
from tests.integration.test_network_agent import (
    NET1,
    NETWORK1,
    NETWORK2,
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
from workers.network import names
from workers.network.agent import NetworkAgent
from workers.network.desired import RuleSpec, SecurityGroupSpec

pytestmark = pytest.mark.root


def need_ovs() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    for binary in ("ip", "nft", "busybox", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl"):
        _need(binary)


@contextlib.contextmanager
def ovs_on_host_a(lab: Lab) -> Iterator[OvsCtl]:
    """Give host A (already started) its own OVS daemons and the OVS driver."""
    # The OVS socket path must stay short (sun_path is 108 bytes).
    daemons = ovs_daemons.OvsDaemons(Path(f"/tmp/{lab.prefix}-ovs"), lab.hosts["a"])
    try:
        daemons = ovs_daemons.start(daemons.directory, lab.hosts["a"])
        options = replace(lab.agents["a"].options, driver="ovs", ovs_db=daemons.db)
        lab.agents["a"] = NetworkAgent(options)
        yield daemons.ctl()
    finally:
        daemons.stop()
        shutil.rmtree(daemons.directory, ignore_errors=True)


@pytest.fixture
def ovs_lab(tmp_path: Path) -> Iterator[tuple[Lab, OvsCtl]]:
    need_ovs()
    lab = Lab(tmp_path)
    try:
        lab.start()
        with ovs_on_host_a(lab) as ctl:
            yield lab, ctl
    finally:
        lab.cleanup()


def test_ovs_host_reaches_a_linux_bridge_host_over_vxlan(ovs_lab: tuple[Lab, OvsCtl]) -> None:
    lab, ctl = ovs_lab
    spec_a = spec_for("host-a", networks=(NETWORK1, NETWORK2), ports=(P1, P2))
    spec_b = spec_for("host-b", networks=(NETWORK1,), ports=(P1, P2))
    lab.converge("a", spec_a)
    lab.converge("b", spec_b)
    vm1 = lab.instance("a", P1, "10.10.0.11/24")
    lab.instance("b", P2, "10.10.0.12/24")
    lab.converge("a", spec_a)
    lab.converge("b", spec_b)

    bridge = names.bridge(NET1)
    assert set(ctl.ports(bridge)) == {"vxlan-1001", names.hybrid_switch_port(P1.id)}
    assert ctl.vsctl("get", "Bridge", bridge, "datapath_type") == "netdev"
    assert ping(vm1, "10.10.0.12")
    assert lab.converge("a", spec_a) == 0

    # A bridge deleted by hand comes back; a deleted network's bridge goes.
    ctl.delete_bridge(bridge)
    assert lab.converge("a", spec_a) > 0
    assert names.hybrid_switch_port(P1.id) in ctl.ports(bridge)
    lab.converge("a", replace(spec_a, networks=(NETWORK1,)))
    assert names.bridge(NETWORK2.id) not in ctl.bridges()
    assert ping(vm1, "10.10.0.12")


def _link(lab: Lab, device: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = json.loads(
        sh("ip", "-n", lab.hosts["a"], "-j", "link", "show", device).stdout
    )
    return found[0]


def test_instance_taps_join_ovs_through_a_bridge_of_their_own(ovs_lab: tuple[Lab, OvsCtl]) -> None:
    lab, ctl = ovs_lab
    guarded = replace(P1, port_security_enabled=True, security_group_ids=("sg-1",))
    open_group = SecurityGroupSpec("sg-1", (RuleSpec("egress"), RuleSpec("ingress")))
    spec_a = spec_for(
        "host-a", networks=(NETWORK1,), ports=(guarded, P2), security_groups=(open_group,)
    )
    spec_b = spec_for("host-b", networks=(NETWORK1,), ports=(guarded, P2))
    lab.converge("b", spec_b)
    report = lab.agents["a"].converge(spec_a)
    assert report.ports_waiting == {P1.id}  # no tap yet: nothing plumbed, not up
    vm1 = lab.instance("a", guarded, "10.10.0.11/24")
    lab.instance("b", P2, "10.10.0.12/24")
    lab.converge("b", spec_b)
    report = lab.agents["a"].converge(spec_a)
    assert report.errors == {} and report.ports_up == {P1.id}

    bridge, qbr = names.bridge(NET1), names.hybrid_bridge(P1.id)
    qvo = names.hybrid_switch_port(P1.id)
    assert set(ctl.ports(bridge)) == {"vxlan-1001", qvo}
    assert ctl.vsctl("get", "Interface", qvo, "type") == "tap"
    for device in (names.tap(P1.id), qvo):
        assert _link(lab, device).get("master") == qbr
    for device in (names.tap(P1.id), qbr, qvo):
        assert _link(lab, device)["mtu"] == 1450
    assert ping(vm1, "10.10.0.12")
    assert lab.converge("a", spec_a) == 0

    # Parts deleted by hand come back.
    host = lab.hosts["a"]
    sh("ip", "-n", host, "link", "del", qvo)
    sh("ip", "-n", host, "link", "del", qbr)
    assert lab.converge("a", spec_a) > 0
    assert _link(lab, qvo).get("master") == qbr
    assert ping(vm1, "10.10.0.12")
    assert lab.converge("a", spec_a) == 0

    # Debris of ports that are gone: a bridge, an OVS port, a device OVS forgot.
    dead, forgotten = "deadbeef-0000-4000-8000-000000000000", "f0f0f0f0-0000-4000-8000-0"
    sh("ip", "-n", host, "link", "add", names.hybrid_bridge(dead), "type", "bridge")
    ctl.add_port(bridge, names.hybrid_switch_port(dead), type="tap")
    sh("ip", "-n", host, "tuntap", "add", "mode", "tap", names.hybrid_switch_port(forgotten))
    assert lab.converge("a", spec_a) > 0
    remaining = sh("ip", "-n", host, "-br", "link").stdout
    assert dead[:11] not in remaining and forgotten[:11] not in remaining
    assert set(ctl.ports(bridge)) == {"vxlan-1001", qvo}
    assert lab.converge("a", spec_a) == 0

    # The port goes: its plumbing and the filter go, the tap (compute's) stays, unplugged.
    spec_a = replace(spec_a, ports=(P2,), security_groups=())
    assert lab.converge("a", spec_a) > 0
    remaining = sh("ip", "-n", host, "-br", "link").stdout
    assert qbr not in remaining and qvo not in remaining
    assert "master" not in sh("ip", "-n", host, "link", "show", names.tap(P1.id)).stdout
    assert set(ctl.ports(bridge)) == {"vxlan-1001"}
    assert names.SG_TABLE not in sh("ip", "netns", "exec", host, "nft", "list", "tables").stdout
    assert lab.converge("a", spec_a) == 0


def test_a_tap_plugged_straight_into_ovs_moves_to_its_bridge(ovs_lab: tuple[Lab, OvsCtl]) -> None:
    # What an agent from before hybrid plugging left behind.
    lab, ctl = ovs_lab
    spec_a = spec_for("host-a", networks=(NETWORK1,), ports=(P1, P2))
    spec_b = spec_for("host-b", networks=(NETWORK1,), ports=(P1, P2))
    lab.converge("a", spec_a)
    lab.converge("b", spec_b)
    vm1 = lab.instance("a", P1, "10.10.0.11/24")
    lab.instance("b", P2, "10.10.0.12/24")
    lab.converge("b", spec_b)
    bridge = names.bridge(NET1)
    sh("ip", "-n", lab.hosts["a"], "link", "set", names.tap(P1.id), "up")
    ctl.add_port(bridge, names.tap(P1.id))
    assert lab.converge("a", spec_a) > 0
    assert set(ctl.ports(bridge)) == {"vxlan-1001", names.hybrid_switch_port(P1.id)}
    assert ping(vm1, "10.10.0.12")
    assert lab.converge("a", spec_a) == 0


_TCP = """
import socket, sys
if sys.argv[1] == "serve":
    server = socket.create_server(("", 7000))
    server.settimeout(10)
    connection, _ = server.accept()
    connection.settimeout(10)
    received = 0
    while chunk := connection.recv(65536):
        received += len(chunk)
    print(received)
else:
    with socket.create_connection((sys.argv[2], 7000), timeout=10) as client:
        client.sendall(b"x" * int(sys.argv[3]))
"""


def tcp_bytes(sender: str, receiver: str, ip: str, size: int = 1_000_000) -> int:
    """Bytes `receiver` got of `size` sent by `sender` over one TCP connection."""
    serve = ["ip", "netns", "exec", receiver, sys.executable, "-c", _TCP, "serve"]
    with subprocess.Popen(serve, stdout=subprocess.PIPE, text=True) as server:
        for _ in range(50):  # until the server listens
            client = sh(
                "ip",
                "netns",
                "exec",
                sender,
                sys.executable,
                "-c",
                _TCP,
                "send",
                ip,
                str(size),
                check=False,
            )
            if "ConnectionRefused" not in client.stderr:
                break
        out, _ = server.communicate(timeout=20)
    return int(out.strip() or 0)


def test_tcp_flows_between_instances_through_port_bridges(ovs_lab: tuple[Lab, OvsCtl]) -> None:
    # Full-size segments with checksums to fill in reach vswitchd complete.
    lab, _ = ovs_lab
    p3 = port("c3c30000-0000-4000-8000-000000000003", NET1, SUB1, "10.10.0.13", "host-a")
    open_group = SecurityGroupSpec("sg-1", (RuleSpec("egress"), RuleSpec("ingress")))
    guarded = replace(P1, port_security_enabled=True, security_group_ids=("sg-1",))
    spec_a = spec_for(
        "host-a", networks=(NETWORK1,), ports=(guarded, P2, p3), security_groups=(open_group,)
    )
    vm1 = lab.instance("a", guarded, "10.10.0.11/24")
    vm3 = lab.instance("a", p3, "10.10.0.13/24")
    lab.converge("a", spec_a)
    assert tcp_bytes(vm1, vm3, "10.10.0.13") == 1_000_000
    assert tcp_bytes(vm3, vm1, "10.10.0.11") == 1_000_000
