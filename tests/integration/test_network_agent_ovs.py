"""The Open vSwitch driver (userspace datapath) on a simulated host.

Host A runs the OVS driver with its own ovsdb-server and ovs-vswitchd
started inside its namespace; host B runs the Linux bridge driver. An
instance on each pings the other, which proves the two drivers agree on
VXLAN, and the usual idempotence and cleanup rules hold for OVS bridges.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from infra.net import ovs_daemons
from infra.net.ovs import OvsCtl
from tests.integration.test_network_agent import (
    NET1,
    NETWORK1,
    NETWORK2,
    P1,
    P2,
    Lab,
    _need,
    ping,
    spec_for,
)
from workers.network import names
from workers.network.agent import NetworkAgent

pytestmark = pytest.mark.root


@pytest.fixture
def ovs_lab(tmp_path: Path) -> Iterator[tuple[Lab, OvsCtl]]:
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    for binary in ("ip", "nft", "busybox", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl"):
        _need(binary)
    lab = Lab(tmp_path)
    # The OVS socket path must stay short (sun_path is 108 bytes).
    daemons = ovs_daemons.OvsDaemons(Path(f"/tmp/{lab.prefix}-ovs"), lab.hosts["a"])
    try:
        lab.start()
        daemons = ovs_daemons.start(daemons.directory, lab.hosts["a"])
        options = replace(lab.agents["a"].options, driver="ovs", ovs_db=daemons.db)
        lab.agents["a"] = NetworkAgent(options)
        yield lab, daemons.ctl()
    finally:
        daemons.stop()
        lab.cleanup()
        shutil.rmtree(daemons.directory, ignore_errors=True)


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
    assert set(ctl.ports(bridge)) == {"vxlan-1001", names.tap(P1.id)}
    assert ctl.vsctl("get", "Bridge", bridge, "datapath_type") == "netdev"
    assert ping(vm1, "10.10.0.12")
    assert lab.converge("a", spec_a) == 0

    # A bridge deleted by hand comes back; a deleted network's bridge goes.
    ctl.delete_bridge(bridge)
    assert lab.converge("a", spec_a) > 0
    assert names.tap(P1.id) in ctl.ports(bridge)
    lab.converge("a", replace(spec_a, networks=(NETWORK1,)))
    assert names.bridge(NETWORK2.id) not in ctl.bridges()
    assert ping(vm1, "10.10.0.12")
