"""IPv6 on the dataplane lab (see test_network_agent): router advertisements
from the router namespace, SLAAC in an instance, DHCPv6 static leases, and
the router's v6 interfaces and forwarding."""

from __future__ import annotations

import ipaddress
import json
import sys
import time
from dataclasses import replace

import pytest

from domain.network.ipv6 import eui64
from tests.integration.test_network_agent import Lab, lab, sh, spec_for
from workers.network.desired import (
    DEVICE_OWNER_DHCP,
    FixedIp,
    NetworkSpec,
    PortSpec,
    RouterInterfaceSpec,
    RouterSpec,
    SubnetSpec,
)

pytestmark = pytest.mark.root
__all__ = ["lab"]  # the fixture, shared with the other dataplane modules

NET6 = "66666666-aaaa-4000-8000-000000000006"
SLAAC_SUB = "56666666-0000-4000-8000-000000000061"
STATEFUL_SUB = "56666666-0000-4000-8000-000000000062"
V4_SUB = "56666666-0000-4000-8000-000000000064"
ROUTER6 = "96666666-0000-4000-8000-000000000006"
VM_MAC = "fa:16:3e:66:00:01"


def _subnet(sid: str, cidr: str, gateway: str, mode: str) -> SubnetSpec:
    return SubnetSpec(
        sid, NET6, cidr, 6, gateway, enable_dhcp=True, ipv6_ra_mode=mode, ipv6_address_mode=mode
    )


def _global_v6(ns: str) -> set[str]:
    out = json.loads(sh("ip", "-n", ns, "-j", "-6", "addr", "show", "dev", "eth0").stdout)
    return {
        a["local"]
        for link in out
        for a in link["addr_info"]
        if a.get("scope") == "global" and not a.get("tentative")
    }


def _default_v6(ns: str) -> list[str]:
    routes = json.loads(sh("ip", "-n", ns, "-j", "-6", "route", "show", "default").stdout)
    return [r.get("gateway", "") for r in routes]


def _wait(condition: object, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.25)
    return False


def ping6(ns: str, ip: str, count: int = 3) -> bool:
    argv = ["busybox", "ping6", "-q", "-c", str(count), "-W", "1", "-w", str(count + 2), ip]
    return sh("ip", "netns", "exec", ns, *argv, check=False).returncode == 0


def test_slaac_from_the_routers_advertisements(lab: Lab) -> None:
    subnet = _subnet(SLAAC_SUB, "fd00:66:1::/64", "fd00:66:1::1", "slaac")
    v4 = SubnetSpec(V4_SUB, NET6, "10.66.0.0/24", 4, "10.66.0.1", enable_dhcp=False)
    network = NetworkSpec(NET6, 1066, 1450, (v4, subnet))
    vm_ip = eui64(subnet.cidr, VM_MAC)  # what IPAM hands out on a SLAAC subnet
    vm_port = PortSpec(
        "a6a60000-0000-4000-8000-000000000061",
        NET6,
        VM_MAC,
        (FixedIp(V4_SUB, "10.66.0.10"), FixedIp(SLAAC_SUB, vm_ip)),
        "compute:nova",
        port_security_enabled=False,
        binding_host="host-a",
    )
    router = RouterSpec(
        ROUTER6,
        interfaces=(
            RouterInterfaceSpec("f6f60000-0000-4000-8000-0000000000f6", SLAAC_SUB, "fd00:66:1::1"),
            RouterInterfaceSpec("f4f40000-0000-4000-8000-0000000000f4", V4_SUB, "10.66.0.1"),
        ),
    )
    spec = spec_for("host-a", networks=(network,), ports=(vm_port,), routers=(router,))
    lab.converge("a", spec)
    vm = lab.instance("a", vm_port, "")
    lab.converge("a", spec)

    assert _wait(lambda: vm_ip in _global_v6(vm)), _global_v6(vm)
    # The RA's source is the router's link-local address: the default route.
    assert _wait(lambda: any(g.startswith("fe80::") for g in _default_v6(vm))), _default_v6(vm)
    assert _wait(lambda: ping6(vm, "fd00:66:1::1", count=1))
    assert ping6(vm, "fd00:66:1::1")
    report = lab.agents["a"].converge(spec)
    assert report.changes == [], report.changes

    # Without an RA mode the router keeps its address but stops advertising.
    quiet = replace(subnet, ipv6_ra_mode=None)
    spec_quiet = replace(spec, networks=(replace(network, subnets=(v4, quiet)),))
    assert lab.converge("a", spec_quiet) > 0
    assert not list((lab.tmp / "a" / "ra").glob("*/pid"))
    assert ping6(vm, "fd00:66:1::1")
    # Router gone: its advertiser goes with it.
    lab.converge("a", replace(spec, routers=()))
    assert not (lab.tmp / "a" / "ra" / ROUTER6).exists()


def test_dhcpv6_stateful_hands_out_the_ports_fixed_ip(lab: Lab) -> None:
    subnet = _subnet(STATEFUL_SUB, "fd00:66:2::/64", "fd00:66:2::1", "dhcpv6-stateful")
    network = NetworkSpec(NET6, 1067, 1450, (subnet,))
    dhcp_port = PortSpec(
        "d6d60000-0000-4000-8000-0000000000d6",
        NET6,
        "fa:16:3e:66:d0:d0",
        (FixedIp(STATEFUL_SUB, "fd00:66:2::2"),),
        DEVICE_OWNER_DHCP,
        binding_host="host-a",
    )
    vm_port = PortSpec(
        "a6a60000-0000-4000-8000-000000000062",
        NET6,
        VM_MAC,
        (FixedIp(STATEFUL_SUB, "fd00:66:2::5d"),),
        "compute:nova",
        port_security_enabled=False,
        binding_host="host-a",
    )
    router = RouterSpec(
        ROUTER6,
        interfaces=(
            RouterInterfaceSpec(
                "f7f70000-0000-4000-8000-0000000000f7", STATEFUL_SUB, "fd00:66:2::1"
            ),
        ),
    )
    spec = spec_for("host-a", networks=(network,), ports=(vm_port, dhcp_port), routers=(router,))
    lab.converge("a", spec)
    hosts = (lab.tmp / "a" / "dhcp" / NET6 / "hosts").read_text()
    assert f"{VM_MAC},host-fd00-66-2--5d,[fd00:66:2::5d]" in hosts
    vm = lab.instance("a", vm_port, "")
    lab.converge("a", spec)
    # Managed RAs give no SLAAC address, only the default route.
    assert _wait(lambda: any(g.startswith("fe80::") for g in _default_v6(vm))), _default_v6(vm)
    assert _global_v6(vm) == set()

    assert _wait(lambda: bool(_link_local(vm)))
    probe = sh(
        "ip",
        "netns",
        "exec",
        vm,
        sys.executable,
        "-m",
        "tests.support.dhcpv6_probe",
        "eth0",
        VM_MAC,
        timeout=30,
        check=False,
    )
    offers = [line.split() for line in probe.stdout.splitlines()]
    assert offers, probe.stderr
    # Only the DHCP namespace's server answers (the router's advertiser
    # stays silent), and it offers the port's fixed IP.
    assert {address for _, address in offers} == {"fd00:66:2::5d"}
    assert len({server for server, _ in offers}) == 1
    # The instance takes the address as a client would; the router is one hop.
    sh("ip", "-n", vm, "addr", "add", "fd00:66:2::5d/64", "dev", "eth0", "nodad")
    assert _wait(lambda: ping6(vm, "fd00:66:2::1", count=1))
    assert lab.converge("a", spec) == 0


def _link_local(ns: str) -> set[str]:
    out = json.loads(sh("ip", "-n", ns, "-j", "-6", "addr", "show", "dev", "eth0").stdout)
    return {
        a["local"]
        for link in out
        for a in link["addr_info"]
        if ipaddress.ip_address(a["local"]).is_link_local and not a.get("tentative")
    }
