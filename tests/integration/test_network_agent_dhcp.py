"""DHCP on the two-host lab (see test_network_agent): a static lease
handed across VXLAN to a busybox udhcpc client in an instance namespace."""

from __future__ import annotations

from dataclasses import replace

import pytest

from infra.net import namespaces
from tests.integration.test_network_agent import (
    NET1,
    NETWORK1,
    P1,
    P2,
    SUB1,
    Lab,
    _need,
    lab,
    sh,
    spec_for,
)
from workers.network import names
from workers.network.desired import DEVICE_OWNER_DHCP, FixedIp, PortSpec

pytestmark = pytest.mark.root
__all__ = ["lab"]  # the fixture, shared with the other dataplane modules


def test_dhcp_hands_out_the_static_lease(lab: Lab) -> None:
    _need("busybox")
    dhcp_port = PortSpec(
        "d0d00000-0000-4000-8000-0000000000d0",
        NET1,
        "fa:16:3e:00:d0:d0",
        (FixedIp(SUB1, "10.10.0.2"),),
        DEVICE_OWNER_DHCP,
        binding_host="host-a",
    )
    spec_a = spec_for("host-a", networks=(NETWORK1,), ports=(P1, P2, dhcp_port))
    spec_b = spec_for("host-b", networks=(NETWORK1,), ports=(P1, P2, dhcp_port))
    lab.converge("a", spec_a)
    lab.converge("b", spec_b)
    hosts_file = lab.tmp / "a" / "dhcp" / NET1 / "hosts"
    assert f"{P2.mac_address},host-10-10-0-12,10.10.0.12" in hosts_file.read_text()
    vm2 = lab.instance("b", P2, "")  # on the other host: DHCP crosses VXLAN
    lab.converge("b", spec_b)

    script = lab.tmp / "udhcpc.sh"
    out = lab.tmp / "lease"
    script.write_text(
        f'#!/bin/sh\n[ "$1" = bound ] && echo "$ip $router $staticroutes" > {out}\nexit 0\n'
    )
    script.chmod(0o755)
    # -O staticroutes: udhcpc asks for option 121 only when told to.
    udhcpc = ["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "5", "-T", "1"]
    udhcpc += ["-O", "staticroutes", "-s", str(script)]
    sh("ip", "netns", "exec", vm2, *udhcpc, timeout=30)
    ip, router, *routes = out.read_text().split()
    assert (ip, router) == ("10.10.0.12", "10.10.0.1")
    assert "169.254.169.254/32" in routes

    # A changed lease is a SIGHUP, not a restart; the second pass is quiet.
    assert lab.converge("a", spec_a) == 0
    assert lab.converge("a", replace(spec_a, ports=(P1, dhcp_port))) > 0
    assert "10.10.0.12" not in hosts_file.read_text()
    assert lab.converge("a", replace(spec_a, networks=(), ports=())) > 0
    assert not namespaces.exists(names.dhcp_namespace(f"{lab.prefix}-a-", NET1))
